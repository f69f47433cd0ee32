"""Build a sync plan from the desired objects, the live objects and the app's inventory.

Order of the main steps:

1. the CreateNamespace step, when the option is set and the destination namespace is
   neither desired nor live (its Namespace is not tracked, so it is never pruned);
2. PreSync, Sync and PostSync in turn; inside a phase, waves in ascending order; inside
   a (phase, wave), a *prerequisites* step with its Namespaces and CRDs, then the step
   with everything else, in kind order then name;
3. after the last Sync-phase apply step, the prunes: one step per wave of the pruned
   live objects, highest wave first, then one step holding every PruneLast prune. All
   of this happens before PostSync.

A CRD is pulled forward into the (phase, wave) of the first custom resource of its
group/kind, and a Namespace into that of the first object in it, even across waves and
phases: if a custom resource sits in wave -1 and its CRD in wave 0, the CRD moves to
wave -1, into that wave's prerequisites step. Hooks are never moved.

Prune safety lives here: an input marked failed prunes nothing; an empty desired set
with a non-empty inventory prunes nothing unless ``allow_empty``. Only live objects
this app owns (by tracking id) are pruned; live hooks are left to their delete policies.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..identity import (
    AppRef,
    NotManaged,
    Owned,
    ResourceKey,
    SharedConflict,
    as_written,
    describe,
    ownership,
    stamp,
)
from .annotations import Phase, delete_policies, hook_spec, wave
from .errors import DuplicateObjectError, InvalidAnnotationError, PlanError
from .hooks import needs_name, with_hook_name
from .model import (
    HookInfo,
    Plan,
    PruneSuppressed,
    Skipped,
    SkipReason,
    Step,
    StepPurpose,
    Task,
    TaskAction,
)
from .options import SyncOptions, app_options, object_option_settings
from .order import CRD, NAMESPACE, PREREQUISITE_KINDS, sort_key

InSync = Callable[[ResourceKey], bool] | Collection[ResourceKey]
Desired = tuple[ResourceKey, Mapping[str, Any]]

_PURPOSE_RANK = {StepPurpose.PREREQUISITES: 0, StepPurpose.APPLY: 1}


@dataclass(frozen=True)
class _Context:
    app: AppRef
    revision: str
    live: Mapping[ResourceKey, Mapping[str, Any]]
    options: SyncOptions
    in_sync: Callable[[ResourceKey], bool]


def build_plan(
    *,
    app: AppRef,
    revision: str,
    desired: Sequence[Desired],
    live: Mapping[ResourceKey, Mapping[str, Any]],
    inventory: Iterable[ResourceKey],
    sync_options: Iterable[str] = (),
    destination_namespace: str | None = None,
    in_sync: InSync | None = None,
    prune: bool = True,
    allow_empty: bool = False,
    input_failed: bool = False,
) -> Plan:
    """Plan a sync. ``desired`` pairs each stamped object with its key (a hook carrying
    only ``generateName`` may have an empty name: it is named and re-stamped here).

    ``in_sync`` tells which keys are already in sync, for ApplyOutOfSyncOnly; without
    it every object counts as out of sync. ``prune=False`` reports prunes as skipped.
    """
    ctx = _Context(
        app, revision, live, app_options(sync_options, f"Application {app}"), _predicate(in_sync)
    )
    tasks, sync_fail, skipped, desired_keys = _desired_tasks(ctx, desired)
    tasks = _pull_prerequisites(tasks)
    steps = _apply_steps(tasks)
    inventory_keys = frozenset(inventory)
    suppressed: PruneSuppressed | None = None
    if input_failed:
        suppressed = PruneSuppressed.INPUT_FAILED
    elif not desired and inventory_keys and not allow_empty:
        suppressed = PruneSuppressed.EMPTY_DESIRED
    else:
        prunes, prune_skips = _prune_tasks(ctx, inventory_keys - desired_keys, prune)
        steps = _insert_prune_steps(steps, prunes)
        skipped += prune_skips
    namespace_step = _create_namespace_step(ctx, destination_namespace, desired_keys, steps)
    return Plan(
        steps=(namespace_step, *steps) if namespace_step else tuple(steps),
        sync_fail=tuple(_group(sync_fail, StepPurpose.APPLY, gate=True)),
        skipped=tuple(skipped),
        prune_suppressed=suppressed,
    )


def _predicate(in_sync: InSync | None) -> Callable[[ResourceKey], bool]:
    if in_sync is None:
        return lambda _key: False
    if callable(in_sync):
        return in_sync
    keys = frozenset(in_sync)
    return keys.__contains__


def _desired_tasks(
    ctx: _Context, desired: Sequence[Desired]
) -> tuple[list[Task], list[Task], list[Skipped], frozenset[ResourceKey]]:
    tasks: list[Task] = []
    sync_fail: list[Task] = []
    skipped: list[Skipped] = []
    seen: dict[ResourceKey, str] = {}
    for key, obj in desired:
        where = f"{describe(obj)} ({key})"
        spec = hook_spec(obj, where)
        if spec.is_hook and needs_name(obj):
            obj = with_hook_name(obj, ctx.revision)
            key = replace(key, name=str(obj["metadata"]["name"]))
            obj = stamp(obj, ctx.app, key)
            where = f"{describe(obj)} ({key})"
        elif not key.name:
            raise PlanError(f"{where}: generateName is only supported on hooks; set metadata.name")
        if key in seen:
            raise DuplicateObjectError(key.label, seen[key], as_written(obj))
        seen[key] = as_written(obj)
        if spec.skip:
            skipped.append(Skipped(key, SkipReason.SKIP_HOOK, f"{spec.source} says not to sync"))
            continue
        live_obj = ctx.live.get(key)
        owner = ownership(live_obj, ctx.app, key) if live_obj is not None else None
        if isinstance(owner, SharedConflict):
            skipped.append(
                Skipped(key, SkipReason.SHARED_CONFLICT, f"tracked by app {owner.other}")
            )
            continue
        options = ctx.options.override(object_option_settings(obj, where))
        obj_wave = wave(obj, where, is_hook=spec.is_hook)
        if spec.is_hook:
            info = HookInfo(delete_policies(obj, where), spec.source)
            for phase in spec.phases:
                task = Task(key, TaskAction.HOOK, phase, obj_wave, obj, options, info)
                (sync_fail if phase is Phase.SYNC_FAIL else tasks).append(task)
        elif options.apply_out_of_sync_only and live_obj is not None and ctx.in_sync(key):
            skipped.append(Skipped(key, SkipReason.IN_SYNC))
        else:
            action = TaskAction.APPLY if live_obj is not None else TaskAction.CREATE
            tasks.append(Task(key, action, Phase.SYNC, obj_wave, obj, options))
    return tasks, sync_fail, skipped, frozenset(seen)


def _position(task: Task) -> tuple[int, int]:
    return (task.phase.rank, task.wave)


def _is_prerequisite(task: Task) -> bool:
    return task.action is not TaskAction.HOOK and task.key.group_kind in PREREQUISITE_KINDS


def _crd_target(task: Task) -> tuple[str, str] | None:
    spec = task.object.get("spec") if task.object is not None else None
    if not isinstance(spec, Mapping):
        return None
    names = spec.get("names")
    kind = names.get("kind") if isinstance(names, Mapping) else None
    group = spec.get("group")
    return (group, kind) if isinstance(group, str) and isinstance(kind, str) else None


def _pull_prerequisites(tasks: list[Task]) -> list[Task]:
    """Move each CRD / Namespace to the earliest (phase, wave) of an object needing it."""
    earliest_kind: dict[tuple[str, str], tuple[int, int]] = {}
    earliest_ns: dict[str, tuple[int, int]] = {}
    for task in tasks:
        pos = _position(task)
        gk = (task.key.group, task.key.kind)
        earliest_kind[gk] = min(earliest_kind.get(gk, pos), pos)
        if task.key.namespace:
            earliest_ns[task.key.namespace] = min(earliest_ns.get(task.key.namespace, pos), pos)
    moved = []
    for task in tasks:
        target: tuple[int, int] | None = None
        if _is_prerequisite(task) and task.key.group_kind == CRD:
            crd_of = _crd_target(task)
            target = earliest_kind.get(crd_of) if crd_of else None
        elif _is_prerequisite(task) and task.key.group_kind == NAMESPACE:
            target = earliest_ns.get(task.key.name)
        if target is not None and target < _position(task):
            phase = next(p for p in Phase if p.rank == target[0])
            task = replace(task, phase=phase, wave=target[1])
        moved.append(task)
    return moved


def _group(
    tasks: Iterable[Task], purpose: StepPurpose, *, gate: bool, reverse: bool = False
) -> list[Step]:
    """One step per (phase, wave), in ascending order (descending with ``reverse``)."""
    ordered = sorted(tasks, key=lambda t: _position(t), reverse=reverse)
    steps = []
    for (_, wave_no), group in itertools.groupby(ordered, key=_position):
        members = sorted(group, key=lambda t: sort_key(t.key), reverse=reverse)
        steps.append(Step(members[0].phase, wave_no, purpose, tuple(members), gate))
    return steps


def _apply_steps(tasks: list[Task]) -> list[Step]:
    prereq = _group([t for t in tasks if _is_prerequisite(t)], StepPurpose.PREREQUISITES, gate=True)
    rest = _group([t for t in tasks if not _is_prerequisite(t)], StepPurpose.APPLY, gate=True)
    return sorted(prereq + rest, key=lambda s: (s.phase.rank, s.wave, _PURPOSE_RANK[s.purpose]))


def _prune_tasks(
    ctx: _Context, candidates: Iterable[ResourceKey], prune_enabled: bool
) -> tuple[list[Task], list[Skipped]]:
    tasks: list[Task] = []
    skipped: list[Skipped] = []
    for key in sorted(candidates, key=sort_key):
        live_obj = ctx.live.get(key)
        if live_obj is None:
            continue  # already gone
        owner = ownership(live_obj, ctx.app, key)
        if not isinstance(owner, Owned):
            detail = (
                owner.reason if isinstance(owner, NotManaged) else f"tracked by app {owner.other}"
            )
            skipped.append(Skipped(key, SkipReason.NOT_OWNED, detail))
            continue
        where = f"live {describe(live_obj)} ({key})"
        try:
            spec = hook_spec(live_obj, where)
            options = ctx.options.override(object_option_settings(live_obj, where))
            live_wave = wave(live_obj, where, is_hook=spec.is_hook)
        except InvalidAnnotationError as exc:
            skipped.append(Skipped(key, SkipReason.REQUIRES_PRUNING, f"not pruned: {exc}"))
            continue
        if spec.is_hook:
            continue  # hooks are removed by their delete policies, never pruned
        if not prune_enabled or not options.prune:
            why = "Prune=false" if not options.prune else "pruning is not enabled"
            skipped.append(Skipped(key, SkipReason.REQUIRES_PRUNING, why))
            continue
        tasks.append(Task(key, TaskAction.PRUNE, Phase.SYNC, live_wave, live_obj, options))
    return tasks, skipped


def _insert_prune_steps(steps: list[Step], prunes: list[Task]) -> list[Step]:
    regular = _group(
        [t for t in prunes if not t.options.prune_last], StepPurpose.PRUNE, gate=False, reverse=True
    )
    last = [t for t in prunes if t.options.prune_last]
    sync_waves = [s.wave for s in steps if s.phase is Phase.SYNC] + [t.wave for t in prunes]
    if last:
        ordered = tuple(sorted(last, key=lambda t: sort_key(t.key), reverse=True))
        regular.append(
            Step(Phase.SYNC, max(sync_waves), StepPurpose.PRUNE_LAST, ordered, gate=False)
        )
    cut = next((i for i, s in enumerate(steps) if s.phase.rank > Phase.SYNC.rank), len(steps))
    return steps[:cut] + regular + steps[cut:]


def _create_namespace_step(
    ctx: _Context, namespace: str | None, desired_keys: frozenset[ResourceKey], steps: list[Step]
) -> Step | None:
    if not ctx.options.create_namespace or not namespace:
        return None
    key = ResourceKey("", "Namespace", "", namespace)
    if key in desired_keys or key in ctx.live:
        return None
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    first_wave = min((s.wave for s in steps), default=0)
    task = Task(key, TaskAction.CREATE_NAMESPACE, Phase.PRE_SYNC, first_wave, obj, ctx.options)
    return Step(Phase.PRE_SYNC, first_wave, StepPurpose.PREREQUISITES, (task,), gate=True)
