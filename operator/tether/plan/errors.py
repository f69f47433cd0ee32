"""Errors raised while planning a sync. Each names the object and the annotation at fault.

PlanError
├── InvalidAnnotationError    a sync-wave, hook, delete-policy or sync-options value is bad
│   ├── InvalidWaveError
│   ├── InvalidHookError
│   └── InvalidSyncOptionError (unknown option, or a value it does not take)
├── (DuplicateObjectError)    two desired objects share a key: the one type from
│                             ``tether.manifests.errors``, re-exported here
└── PlanFormatError           a persisted plan does not parse back
"""

from __future__ import annotations

from tether.errors import TetherError
from tether.manifests.errors import DuplicateObjectError


class PlanError(TetherError):
    """Base class for planning errors."""


class InvalidAnnotationError(PlanError):
    def __init__(self, where: str, annotation: str, value: str, cause: str) -> None:
        super().__init__(f"{where}: {annotation}={value!r}: {cause}")
        self.where = where
        self.annotation = annotation
        self.value = value


class InvalidWaveError(InvalidAnnotationError):
    """A sync wave or hook weight is not an integer."""


class InvalidHookError(InvalidAnnotationError):
    """A hook type or delete policy is not one Tether knows."""


class InvalidSyncOptionError(InvalidAnnotationError):
    """A sync option is unknown or has a value it does not accept."""


class PlanFormatError(PlanError):
    """A serialised plan is malformed."""


__all__ = [
    "DuplicateObjectError",
    "InvalidAnnotationError",
    "InvalidHookError",
    "InvalidSyncOptionError",
    "InvalidWaveError",
    "PlanError",
    "PlanFormatError",
]
