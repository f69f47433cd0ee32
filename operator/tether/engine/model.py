"""The engine's results as data: each object's standing and the diff report.

``Standing`` is the per-object verdict (in sync, out of sync, missing, to
prune, owned by another app, not comparable); ``ObjectDiff`` one object's
verdict with its masked diff; ``DiffReport`` all of them plus the errors that
kept objects from being compared. Pure values; no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.errors import TetherError
from tether.identity import ResourceKey


class SyncStatus(enum.StrEnum):
    """An app's (or one object's) sync status, as ``status.sync.status`` shows it."""

    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


class Standing(enum.StrEnum):
    """Where one object stands against the source."""

    IN_SYNC = "in-sync"
    OUT_OF_SYNC = "out-of-sync"
    MISSING = "missing"
    PRUNE = "prune"
    CONFLICT = "conflict"
    ERROR = "error"
    HOOK = "hook"  # part of a sync operation, not of the desired state: never drift

    @property
    def sync_status(self) -> SyncStatus:
        """The object's sync status: in sync, drifted (also missing or to prune), or unknown."""
        if self in (Standing.IN_SYNC, Standing.HOOK):
            return SyncStatus.SYNCED
        if self in (Standing.CONFLICT, Standing.ERROR):
            return SyncStatus.UNKNOWN
        return SyncStatus.OUT_OF_SYNC


@dataclass(frozen=True)
class ObjectDiff:
    """One object's standing.

    ``diff`` is the masked unified diff of an out-of-sync object; ``patch`` the
    normalized part of its patch that really changes something (for listing
    drifted fields).
    """

    key: ResourceKey
    status: Standing
    diff: str = ""
    message: str = ""
    wave: int = 0
    patch: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class DiffReport:
    """Every object's standing, the errors that stopped some from being compared, and
    the keyed, stamped desired objects the comparison used."""

    entries: tuple[ObjectDiff, ...] = ()
    errors: tuple[str, ...] = ()
    desired: Mapping[ResourceKey, dict[str, Any]] = field(
        default_factory=dict, repr=False, compare=False
    )
    problems: tuple[TetherError, ...] = field(default=(), repr=False, compare=False)

    def by_status(self, status: Standing) -> tuple[ObjectDiff, ...]:
        return tuple(e for e in self.entries if e.status == status)

    @property
    def in_sync(self) -> bool:
        return not self.errors and all(
            e.status in (Standing.IN_SYNC, Standing.HOOK) for e in self.entries
        )
