"""The plan as data: steps of tasks, what was skipped and why, and JSON round-tripping.

A ``Plan`` is ordered ``steps``; each step holds the tasks of one (phase, wave) that may
run at the same time, and ``gate`` tells the executor to wait for them to be healthy
(hooks finished, objects healthy) before starting the next step. SyncFail hooks are kept
apart in ``sync_fail``: the executor runs them only when the sync fails.

Task objects are plain JSON-like dicts; treat them as read-only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tether.objects import plain

from ..identity import InvalidObjectError, ResourceKey
from .annotations import DeletePolicy, Phase
from .errors import PlanFormatError
from .options import SyncOptions

E = TypeVar("E", bound=enum.Enum)


class TaskAction(enum.StrEnum):
    APPLY = "apply"  # update an object that exists
    CREATE = "create"  # create an object that does not exist yet
    PRUNE = "prune"  # delete an object the app no longer wants
    HOOK = "hook"  # run a hook: delete per policy, create, wait for completion
    CREATE_NAMESPACE = "create-namespace"  # the CreateNamespace option's namespace


class StepPurpose(enum.StrEnum):
    PREREQUISITES = "prerequisites"  # Namespaces and CRDs that later tasks need
    APPLY = "apply"
    PRUNE = "prune"
    PRUNE_LAST = "prune-last"


class SkipReason(enum.StrEnum):
    SKIP_HOOK = "skip-hook"  # Skip annotation, or only hook types a sync does not run
    IN_SYNC = "in-sync"  # ApplyOutOfSyncOnly and already in sync
    REQUIRES_PRUNING = "requires-pruning"  # not desired, but pruning is off for it
    SHARED_CONFLICT = "shared-conflict"  # another app tracks the live object
    NOT_OWNED = "not-owned"  # in the inventory, but the live object is not ours


class PruneSuppressed(enum.StrEnum):
    EMPTY_DESIRED = "empty-desired"
    INPUT_FAILED = "input-failed"


@dataclass(frozen=True)
class HookInfo:
    delete_policies: tuple[DeletePolicy, ...]
    source: str  # the annotation that made it a hook

    def to_dict(self) -> dict[str, Any]:
        return {"deletePolicies": [p.value for p in self.delete_policies], "source": self.source}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HookInfo:
        policies = data.get("deletePolicies", [])
        source = data.get("source", "")
        if not isinstance(policies, list) or not isinstance(source, str):
            raise PlanFormatError("hook info: malformed")
        return cls(tuple(_enum(DeletePolicy, p, "delete policy") for p in policies), source)


@dataclass(frozen=True)
class Task:
    key: ResourceKey
    action: TaskAction
    phase: Phase
    wave: int
    object: Mapping[str, Any] | None = None  # desired object; the live one for prunes
    options: SyncOptions = field(default_factory=SyncOptions)
    hook: HookInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key.to_dict(),
            "action": self.action.value,
            "phase": self.phase.value,
            "wave": self.wave,
            "object": plain(self.object) if self.object is not None else None,
            "options": self.options.to_dict(),
            "hook": self.hook.to_dict() if self.hook is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        obj, hook, wave = data.get("object"), data.get("hook"), data.get("wave")
        if obj is not None and not isinstance(obj, dict):
            raise PlanFormatError("task: object must be a mapping")
        if isinstance(wave, bool) or not isinstance(wave, int):
            raise PlanFormatError("task: wave must be an integer")
        return cls(
            key=_key(data.get("key")),
            action=_enum(TaskAction, data.get("action"), "action"),
            phase=_enum(Phase, data.get("phase"), "phase"),
            wave=wave,
            object=obj,
            options=SyncOptions.from_dict(_mapping(data.get("options", {}), "options")),
            hook=HookInfo.from_dict(_mapping(hook, "hook")) if hook is not None else None,
        )


@dataclass(frozen=True)
class Step:
    phase: Phase
    wave: int
    purpose: StepPurpose
    tasks: tuple[Task, ...]
    gate: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase.value,
            "wave": self.wave,
            "purpose": self.purpose.value,
            "gate": self.gate,
            "tasks": [t.to_dict() for t in self.tasks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        wave, gate, tasks = data.get("wave"), data.get("gate", True), data.get("tasks")
        if isinstance(wave, bool) or not isinstance(wave, int) or not isinstance(gate, bool):
            raise PlanFormatError("step: wave must be an integer and gate a boolean")
        if not isinstance(tasks, list):
            raise PlanFormatError("step: tasks must be a list")
        return cls(
            phase=_enum(Phase, data.get("phase"), "phase"),
            wave=wave,
            purpose=_enum(StepPurpose, data.get("purpose"), "purpose"),
            tasks=tuple(Task.from_dict(_mapping(t, "task")) for t in tasks),
            gate=gate,
        )


@dataclass(frozen=True)
class Skipped:
    key: ResourceKey
    reason: SkipReason
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key.to_dict(), "reason": self.reason.value, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Skipped:
        detail = data.get("detail", "")
        if not isinstance(detail, str):
            raise PlanFormatError("skipped: detail must be a string")
        return cls(_key(data.get("key")), _enum(SkipReason, data.get("reason"), "reason"), detail)


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    sync_fail: tuple[Step, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    prune_suppressed: PruneSuppressed | None = None

    def tasks(self) -> Iterator[Task]:
        """Every task of the main steps, in order (SyncFail hooks excluded)."""
        for step in self.steps:
            yield from step.tasks

    @property
    def is_empty(self) -> bool:
        return not self.steps

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": [s.to_dict() for s in self.steps],
            "syncFail": [s.to_dict() for s in self.sync_fail],
            "skipped": [s.to_dict() for s in self.skipped],
            "pruneSuppressed": self.prune_suppressed.value if self.prune_suppressed else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        suppressed = data.get("pruneSuppressed")
        return cls(
            steps=tuple(Step.from_dict(_mapping(s, "step")) for s in _list(data, "steps")),
            sync_fail=tuple(Step.from_dict(_mapping(s, "step")) for s in _list(data, "syncFail")),
            skipped=tuple(
                Skipped.from_dict(_mapping(s, "skipped")) for s in _list(data, "skipped")
            ),
            prune_suppressed=(
                _enum(PruneSuppressed, suppressed, "pruneSuppressed") if suppressed else None
            ),
        )


def _list(data: Mapping[str, Any], name: str) -> list[Any]:
    value = data.get(name, [])
    if not isinstance(value, list):
        raise PlanFormatError(f"plan: {name} must be a list")
    return value


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PlanFormatError(f"{what}: expected a mapping, got {type(value).__name__}")
    return value


def _key(value: Any) -> ResourceKey:
    try:
        return ResourceKey.from_dict(_mapping(value, "key"))
    except InvalidObjectError as exc:
        raise PlanFormatError(str(exc)) from exc


def _enum(cls: type[E], value: Any, what: str) -> E:
    try:
        return cls(value)
    except ValueError:
        raise PlanFormatError(f"unknown {what} {value!r}") from None
