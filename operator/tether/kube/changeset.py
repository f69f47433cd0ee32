"""Results of applying and pruning, as data: a ChangeSet of Change entries.

Each entry names the object (its ``ResourceKey``), what happened to it
(``Action``) and a short message (the server's reason on failure; never object
content). Change sets are JSON-serialisable so they can live in an
OperationState and in Application status.

A change may also carry ``Written``: the object versions around the write it
made, so that a later health gate can tell a cached copy older than that write.
It is bookkeeping for this run only and is not serialised.

A change may name *why* it failed or was skipped with a ``ChangeReason`` when the
status must say so with its own condition reason: a write the API server refused
(403), a Namespace prune skipped because others' objects are still inside.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.identity import ResourceKey
from tether.kube.errors import Forbidden, KubeError
from tether.objects import resource_version


class Action(enum.StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    ADOPTED = "adopted"  # existed live without any app's tracking; now tracked by this app
    UNCHANGED = "unchanged"
    PRUNED = "pruned"
    FAILED = "failed"
    SKIPPED = "skipped"


class ChangeReason(enum.StrEnum):
    """Why a change failed or was skipped, when the status names it (saved as ``reason``)."""

    FORBIDDEN = "Forbidden"  # the API server refused the write (RBAC)
    NAMESPACE_NOT_EMPTY = "NamespaceNotEmpty"  # a Namespace prune skipped: others' objects


@dataclass(frozen=True)
class Written:
    """The versions around one write: the server's answer and the version it replaced."""

    resource_version: str
    generation: int | None = None
    previous_resource_version: str = ""

    @classmethod
    def of(cls, result: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> Written:
        generation = (result.get("metadata") or {}).get("generation")
        return cls(
            resource_version(result),
            generation if isinstance(generation, int) else None,
            resource_version(previous) if previous is not None else "",
        )

    def is_older(self, obj: Mapping[str, Any] | None) -> bool:
        """Whether ``obj`` is known to predate this write (a missing object counts)."""
        if obj is None:
            return True
        generation = (obj.get("metadata") or {}).get("generation")
        if isinstance(generation, int) and generation < (self.generation or 0):
            return True
        return (
            bool(self.previous_resource_version)
            and resource_version(obj) == self.previous_resource_version
        )


@dataclass(frozen=True)
class Change:
    """What happened to one object."""

    key: ResourceKey
    action: Action
    message: str = ""
    dry_run: bool = False
    written: Written | None = field(default=None, compare=False, repr=False)
    reason: ChangeReason | None = None

    @classmethod
    def refused(cls, key: ResourceKey, exc: KubeError, dry_run: bool = False) -> Change:
        """The failed change for an API error; a 403 is marked ``Forbidden``."""
        reason = ChangeReason.FORBIDDEN if isinstance(exc, Forbidden) else None
        return cls(key, Action.FAILED, str(exc), dry_run, reason=reason)

    @property
    def failed(self) -> bool:
        return self.action is Action.FAILED

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": str(self.key), "action": self.action.value}
        if self.message:
            out["message"] = self.message
        if self.dry_run:
            out["dryRun"] = True
        if self.reason is not None:
            out["reason"] = self.reason.value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        return cls(
            ResourceKey.parse(str(data["key"])),
            Action(str(data["action"])),
            str(data.get("message") or ""),
            bool(data.get("dryRun", False)),
            reason=reason_of(data.get("reason")),
        )

    def __str__(self) -> str:
        text = f"{self.key.kind} {self.key.namespace + '/' if self.key.namespace else ''}{self.key.name} {self.action.value}"
        if self.dry_run:
            text += " (dry run)"
        return f"{text}: {self.message}" if self.message else text


def reason_of(value: Any) -> ChangeReason | None:
    """A saved ``reason``; one this version does not know reads as none."""
    try:
        return ChangeReason(str(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ChangeSet:
    """An ordered, immutable list of changes."""

    entries: tuple[Change, ...] = ()

    @classmethod
    def of(cls, changes: Iterable[Change]) -> ChangeSet:
        return cls(tuple(changes))

    def __add__(self, other: ChangeSet) -> ChangeSet:
        return ChangeSet(self.entries + other.entries)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def failed(self) -> tuple[Change, ...]:
        return tuple(c for c in self.entries if c.failed)

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        return dict(Counter(c.action.value for c in self.entries))

    def to_list(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.entries]
