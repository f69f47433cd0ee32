"""The state of one sync operation: an immutable, JSON-serialisable value.

The executor returns a new ``SyncOperation`` after every step and hands it to
the caller's ``persist`` callback (the operator writes it into
``Application.status.operationState``; the CLI may write a file). Started again
with a saved state, the executor skips the steps recorded as finished, so a
killed process resumes without redoing work. ``plan_id`` ties a state to the
plan it was made for: a state from a different plan (another revision or
source) is not resumed. A saved state that cannot be read raises
``StateFormatError`` (a ``ValueError``).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from tether.identity import InvalidObjectError
from tether.kube.changeset import Change, ChangeSet


class StateFormatError(ValueError):
    """A saved operation state is not one this version can read."""


class OperationPhase(enum.StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"

    @property
    def done(self) -> bool:
        return self is not OperationPhase.RUNNING


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_operation_id() -> str:
    """A short random id that names one sync operation (stamped on the hooks it runs)."""
    return secrets.token_hex(6)


class HookOutcome(enum.StrEnum):
    """How far one hook of an operation got: created, or finished either way."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def done(self) -> bool:
        return self is not HookOutcome.RUNNING


@dataclass(frozen=True)
class HookRecord:
    """One hook run of an operation: the object and how far it got.

    Recorded (and persisted) when the hook is created and again when it finishes,
    before its delete policy runs, so a process killed at any point never runs a
    hook twice for the same operation.
    """

    key: str
    outcome: HookOutcome
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "outcome": self.outcome.value}
        if self.message:
            out["message"] = self.message
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HookRecord:
        return cls(
            str(data["key"]),
            HookOutcome(str(data["outcome"])),
            str(data.get("message") or ""),
        )


@dataclass(frozen=True)
class StepRecord:
    """One finished step: its index, label (phase/wave) and its changes."""

    index: int
    label: str
    changes: ChangeSet = field(default_factory=ChangeSet)
    healthy: bool = True
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "label": self.label,
            "results": self.changes.to_list(),
            "healthy": self.healthy,
        }
        if self.message:
            out["message"] = self.message
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        return cls(
            int(data["index"]),
            str(data.get("label") or ""),
            ChangeSet.of(Change.from_dict(c) for c in data.get("results") or ()),
            bool(data.get("healthy", True)),
            str(data.get("message") or ""),
        )


@dataclass(frozen=True)
class SyncOperation:
    """Where a sync stands; ``next_step`` is the first step not yet finished."""

    plan_id: str
    revision: str
    total_steps: int
    phase: OperationPhase = OperationPhase.RUNNING
    next_step: int = 0
    steps: tuple[StepRecord, ...] = ()
    started_at: str = field(default_factory=now)
    finished_at: str = ""
    message: str = ""
    attempt: int = 0
    dry_run: bool = False
    operation_id: str = field(default_factory=new_operation_id)
    hooks: tuple[HookRecord, ...] = ()

    @classmethod
    def begin(
        cls, plan_id: str, revision: str, total_steps: int, *, dry_run: bool = False
    ) -> SyncOperation:
        return cls(plan_id, revision, total_steps, dry_run=dry_run)

    def hook(self, key: str) -> HookRecord | None:
        """What this operation recorded for the hook ``key``, if anything."""
        return next((h for h in self.hooks if h.key == key), None)

    def hook_recorded(self, record: HookRecord) -> SyncOperation:
        hooks = (*(h for h in self.hooks if h.key != record.key), record)
        return replace(self, hooks=hooks)

    def resumable_for(self, plan_id: str) -> bool:
        """True when this state belongs to ``plan_id`` and did not finish."""
        return self.plan_id == plan_id and not self.phase.done

    def step_done(self, record: StepRecord) -> SyncOperation:
        steps = (*(s for s in self.steps if s.index != record.index), record)
        return replace(self, steps=steps, next_step=record.index + 1, message=record.message)

    def finish(self, phase: OperationPhase, message: str = "") -> SyncOperation:
        return replace(self, phase=phase, finished_at=now(), message=message or self.message)

    def retrying(self, message: str) -> SyncOperation:
        return replace(self, attempt=self.attempt + 1, message=message)

    @property
    def changes(self) -> ChangeSet:
        out = ChangeSet()
        for step in self.steps:
            out = out + step.changes
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "planId": self.plan_id,
            "revision": self.revision,
            "phase": self.phase.value,
            "totalSteps": self.total_steps,
            "nextStep": self.next_step,
            "steps": [s.to_dict() for s in self.steps],
            "startedAt": self.started_at,
            "attempt": self.attempt,
        }
        if self.finished_at:
            out["finishedAt"] = self.finished_at
        if self.message:
            out["message"] = self.message
        if self.dry_run:
            out["dryRun"] = True
        out["operationId"] = self.operation_id
        if self.hooks:
            out["hooks"] = [h.to_dict() for h in self.hooks]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SyncOperation:
        """Read a state written by ``to_dict``; raises ``StateFormatError``."""
        try:
            return cls._from_dict(data)
        except (KeyError, ValueError, TypeError, AttributeError, InvalidObjectError) as exc:
            detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise StateFormatError(f"not a saved operation state: {detail}") from None

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> SyncOperation:
        return cls(
            plan_id=str(data.get("planId") or ""),
            revision=str(data.get("revision") or ""),
            total_steps=int(data.get("totalSteps") or 0),
            phase=OperationPhase(str(data.get("phase") or OperationPhase.RUNNING.value)),
            next_step=int(data.get("nextStep") or 0),
            steps=tuple(StepRecord.from_dict(s) for s in data.get("steps") or ()),
            started_at=str(data.get("startedAt") or now()),
            finished_at=str(data.get("finishedAt") or ""),
            message=str(data.get("message") or ""),
            attempt=int(data.get("attempt") or 0),
            dry_run=bool(data.get("dryRun", False)),
            # A state saved before operation ids existed gets one derived from its start,
            # stable across reads, so hooks it stamps keep matching.
            operation_id=str(data.get("operationId") or _legacy_id(data)),
            hooks=tuple(HookRecord.from_dict(h) for h in data.get("hooks") or ()),
        )


def _legacy_id(data: dict[str, Any]) -> str:
    seed = f"{data.get('planId')}/{data.get('startedAt')}".encode()
    return hashlib.sha256(seed).hexdigest()[:12]
