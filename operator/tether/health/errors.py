"""Errors raised by the health package.

HealthError
└── CelRuleError      a custom CEL rule does not compile, or is declared twice
"""

from __future__ import annotations

from tether.errors import TetherError


class HealthError(TetherError):
    """Base class for health assessment errors."""


class CelRuleError(HealthError):
    """A custom health rule is invalid; the message names the rule, the field and the cause."""

    def __init__(self, rule: str, field: str, detail: str) -> None:
        super().__init__(f"health rule {rule}: {field}: {detail}")
        self.rule = rule
        self.field = field
        self.detail = detail
