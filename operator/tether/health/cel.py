"""Custom health rules: CEL expressions per group/kind, evaluated with cel-python.

A rule has up to four boolean expressions (``degraded``, ``suspended``, ``progressing``,
``healthy``) and an optional ``message`` expression yielding a string. Each sees the
live object as ``obj``. They are tried in that order and the first one that is true
decides the status. When none is true: if the rule has a ``healthy`` expression, the
object is Progressing (not healthy yet); otherwise the rule does not apply and the
built-in check runs.

Expressions compile once, when the rule set is built, and compiled programs are shared
between identical expressions. A rule that does not compile raises ``CelRuleError``
naming the rule. An expression that fails while evaluating (e.g. reading a field the
object lacks; guard with ``has()``) or yields a non-boolean gives Unknown, with a message
naming the rule, so a broken rule never passes a health gate.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tether.objects import plain

from .errors import CelRuleError
from .status import HealthResult, HealthStatus, unknown

if TYPE_CHECKING:
    import celpy

_VERDICTS: tuple[tuple[str, HealthStatus], ...] = (
    ("degraded", HealthStatus.DEGRADED),
    ("suspended", HealthStatus.SUSPENDED),
    ("progressing", HealthStatus.PROGRESSING),
    ("healthy", HealthStatus.HEALTHY),
)


@dataclass(frozen=True)
class CelRule:
    """A custom health rule for one group/kind, as the user wrote it."""

    group: str
    kind: str
    degraded: str | None = None
    suspended: str | None = None
    progressing: str | None = None
    healthy: str | None = None
    message: str | None = None

    @property
    def name(self) -> str:
        return f"{self.group or 'core'}/{self.kind}"


@functools.cache
def _env() -> celpy.Environment:
    # Imported and built on the first rule: cel-python and its parser hold ~9 MiB,
    # which an operator without custom health rules never needs.
    import celpy

    return celpy.Environment()


@functools.lru_cache(maxsize=1024)
def _compile(expression: str) -> celpy.Runner:
    env = _env()
    return env.program(env.compile(expression))


def _compile_field(rule: CelRule, field: str, expression: str) -> celpy.Runner:
    if not expression.strip():
        raise CelRuleError(rule.name, field, "expression is empty")
    try:
        return _compile(expression)
    except Exception as exc:  # cel-python raises several unrelated types here
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CelRuleError(rule.name, field, f"does not compile: {detail}") from exc


@dataclass(frozen=True)
class CompiledRule:
    """A rule whose expressions are compiled; ``evaluate`` returns None when it does not apply."""

    rule: CelRule
    verdicts: tuple[tuple[str, HealthStatus, celpy.Runner], ...]
    message: celpy.Runner | None

    def evaluate(self, obj: Mapping[str, Any]) -> HealthResult | None:
        from celpy import celtypes
        from celpy.adapter import json_to_cel

        activation = {"obj": json_to_cel(plain(obj))}
        for field, status, program in self.verdicts:
            try:
                value = program.evaluate(activation)
            except Exception as exc:  # evaluation errors surface as assorted types
                return unknown(f"health rule {self.rule.name}: {field}: {_short(exc)}")
            if not isinstance(value, celtypes.BoolType):
                return unknown(f"health rule {self.rule.name}: {field}: did not yield a boolean")
            if bool(value):
                return HealthResult(status, self._message(activation))
        if self.rule.healthy is not None:
            return HealthResult(HealthStatus.PROGRESSING, self._message(activation))
        return None

    def _message(self, activation: Mapping[str, Any]) -> str:
        if self.message is None:
            return ""
        try:
            return str(self.message.evaluate(dict(activation)))
        except Exception as exc:  # a broken message must not hide the status
            return f"health rule {self.rule.name}: message: {_short(exc)}"


def _short(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__


def compile_rule(rule: CelRule) -> CompiledRule:
    verdicts = []
    for field, status in _VERDICTS:
        expression = getattr(rule, field)
        if expression is not None:
            verdicts.append((field, status, _compile_field(rule, field, expression)))
    if not verdicts:
        raise CelRuleError(
            rule.name, "rule", "needs at least one of " + ", ".join(f for f, _ in _VERDICTS)
        )
    message = _compile_field(rule, "message", rule.message) if rule.message is not None else None
    return CompiledRule(rule, tuple(verdicts), message)


@dataclass(frozen=True)
class RuleSet:
    """Compiled custom rules, by (group, kind)."""

    rules: Mapping[tuple[str, str], CompiledRule]

    def for_kind(self, group: str, kind: str) -> CompiledRule | None:
        return self.rules.get((group, kind))


def compile_rules(rules: Iterable[CelRule]) -> RuleSet:
    """Compile every rule; raises CelRuleError for a bad expression or a duplicate kind."""
    compiled: dict[tuple[str, str], CompiledRule] = {}
    for rule in rules:
        if (rule.group, rule.kind) in compiled:
            raise CelRuleError(rule.name, "rule", "declared more than once")
        compiled[(rule.group, rule.kind)] = compile_rule(rule)
    return RuleSet(compiled)


EMPTY_RULES = RuleSet({})

__all__ = ["EMPTY_RULES", "CelRule", "CompiledRule", "RuleSet", "compile_rule", "compile_rules"]
