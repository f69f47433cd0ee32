"""Run a sync ``Plan`` against the cluster, step by step, resumably.

For each step of the plan, in order:

1. apply its tasks with bounded concurrency (create / apply / create-namespace
   through ``Applier``; prune through ``Pruner``; hooks: delete the previous run
   per BeforeHookCreation, create, wait for completion, then apply the
   HookSucceeded / HookFailed delete policy);
2. if any task failed, stop: run the SyncFail hooks and finish ``Failed``
   (earlier steps stay applied, later ones, including prunes, never run);
3. otherwise, when the step has a gate and is not the last step, wait for its
   objects to be healthy (timeout -> ``Failed``); an object the cache still
   holds at a version older than the step's write to it is read by a GET, so
   the gate never judges the previous generation;
4. hand the new ``SyncOperation`` to ``persist``.

Steps are recorded by a label (phase/wave/purpose and occurrence), not only by
index, so that a resumed run skips finished steps even when re-planning from
the new live state drops a step (e.g. prunes already done).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tether.health import HealthStatus, assess
from tether.identity import OPERATION_ANNOTATION, AppRef, ResourceKey
from tether.kube.apply import Applier, ApplyItem, ApplyOptions
from tether.kube.changeset import Action, Change, ChangeSet, Written
from tether.kube.client import KubeClient
from tether.kube.discovery import Discovery
from tether.kube.errors import KubeError, NotFound
from tether.kube.prune import Pruner
from tether.kube.resource import GVK
from tether.kube.wait import LiveLookup, fresh_lookup, wait_gone, wait_healthy
from tether.objects import plain
from tether.plan.annotations import DeletePolicy
from tether.plan.model import Plan, Step, Task, TaskAction
from tether.sync.state import HookOutcome, HookRecord, OperationPhase, StepRecord, SyncOperation


@dataclass(frozen=True)
class ExecutorConfig:
    concurrency: int = 8
    health_timeout: float = 300.0
    hook_timeout: float = 300.0
    dry_run: bool = False
    server_side: bool = False
    poll: float = 0.2


class ProgressKind(enum.Enum):
    """What a ``ProgressEvent`` reports."""

    STEP = "step"  # a step starts
    CHANGE = "change"  # one object was written (or left alone)
    GATE = "gate"  # a step's health gate passed or failed
    DONE = "done"  # the operation finished


@dataclass(frozen=True)
class ProgressEvent:
    """What the executor is doing, for progress output: step start/end or one change."""

    kind: ProgressKind
    step: int
    label: str
    change: Change | None = None
    message: str = ""


Persist = Callable[[SyncOperation], Awaitable[None] | None]
Progress = Callable[[ProgressEvent], None]


def step_labels(steps: Sequence[Step]) -> list[str]:
    seen: Counter[str] = Counter()
    labels = []
    for step in steps:
        base = f"{step.phase.value}/{step.wave}/{step.purpose.value}"
        labels.append(f"{base}#{seen[base]}")
        seen[base] += 1
    return labels


class Executor:
    """Executes plans for one app through one (possibly impersonating) client."""

    def __init__(
        self,
        client: KubeClient,
        discovery: Discovery,
        applier: Applier,
        app: AppRef,
        lookup: LiveLookup,
        *,
        config: ExecutorConfig = ExecutorConfig(),
        progress: Progress | None = None,
    ) -> None:
        self._client = client
        self._discovery = discovery
        self._applier = applier
        self._pruner = Pruner(client, discovery, app)
        self._lookup = lookup
        self._config = config
        self._progress = progress or (lambda _e: None)
        # The operation in flight, as last recorded; ``run`` sets it.
        self._state: SyncOperation = SyncOperation.begin("", "", 0)
        self._persist: Persist = lambda _s: None
        self._save_lock = asyncio.Lock()

    async def run(self, plan: Plan, state: SyncOperation, persist: Persist) -> SyncOperation:
        self._state = state
        self._persist = persist
        labels = step_labels(plan.steps)
        done = {record.label for record in state.steps}
        for index, (step, label) in enumerate(zip(plan.steps, labels, strict=True)):
            if label in done:
                continue
            self._progress(
                ProgressEvent(ProgressKind.STEP, index, label, message=f"{len(step.tasks)} tasks")
            )
            changes = await self._run_step(step)
            record = StepRecord(index, label, changes)
            if (
                changes.ok
                and step.gate
                and index < len(plan.steps) - 1
                and not self._config.dry_run
            ):
                gate = await wait_healthy(
                    _gated_keys(step),
                    self._gate_lookup(step, changes),
                    timeout=self._config.health_timeout,
                    poll=self._config.poll,
                )
                if not gate.passed:
                    record = StepRecord(index, label, changes, healthy=False, message=gate.message)
                self._progress(ProgressEvent(ProgressKind.GATE, index, label, message=gate.message))
            self._state = self._state.step_done(record)
            if not changes.ok or not record.healthy:
                message = record.message or _failure_message(changes)
                return await self._fail(plan, message)
            if index < len(plan.steps) - 1:
                # After the last step the finished state is saved at once: one save.
                await self._save()
        self._state = self._state.finish(OperationPhase.SUCCEEDED, "successfully synced")
        await self._save()
        self._progress(
            ProgressEvent(ProgressKind.DONE, len(plan.steps), "", message=self._state.message)
        )
        return self._state

    async def _fail(self, plan: Plan, message: str) -> SyncOperation:
        await self._save()
        fail_changes = ChangeSet()
        for step in plan.sync_fail:
            fail_changes = fail_changes + await self._run_step(step)
        if fail_changes.entries:
            record = StepRecord(self._state.next_step, "SyncFail", fail_changes)
            self._state = self._state.step_done(record)
        self._state = self._state.finish(OperationPhase.FAILED, message)
        await self._save()
        self._progress(ProgressEvent(ProgressKind.DONE, self._state.next_step, "", message=message))
        return self._state

    async def _save(self) -> None:
        """Persist the current state; saves never overlap, and each writes the newest."""
        async with self._save_lock:
            await _call(self._persist, self._state)

    async def _record_hook(self, record: HookRecord) -> None:
        self._state = self._state.hook_recorded(record)
        if not self._config.dry_run:
            await self._save()

    def _gate_lookup(self, step: Step, changes: ChangeSet) -> LiveLookup:
        """The gate's view: fresh copies of what the step wrote; namespaces by GET.

        A namespace made by CreateNamespace carries no tracking label, so a watch cache
        filtered by that label never holds it: it is always read from the server.
        """
        fresh = fresh_lookup(self._lookup, self._get, _written(changes))
        direct = {t.key for t in step.tasks if t.action is TaskAction.CREATE_NAMESPACE}
        if not direct:
            return fresh

        async def lookup(key: ResourceKey) -> dict[str, Any] | None:
            return await (self._get(key) if key in direct else fresh(key))

        return lookup

    # -- one step ----------------------------------------------------------------------

    async def _run_step(self, step: Step) -> ChangeSet:
        gate = asyncio.Semaphore(max(1, self._config.concurrency))

        async def one(task: Task) -> Change:
            async with gate:
                try:
                    change = await self._run_task(task)
                except KubeError as exc:
                    change = Change.refused(task.key, exc, self._config.dry_run)
            self._progress(ProgressEvent(ProgressKind.CHANGE, -1, "", change=change))
            return change

        return ChangeSet.of(await asyncio.gather(*(one(t) for t in step.tasks)))

    async def _run_task(self, task: Task) -> Change:
        dry = self._config.dry_run
        if task.action is TaskAction.PRUNE:
            live = await self._lookup(task.key)
            return await self._pruner.prune(
                task.key,
                live,
                allowed=task.options.prune,
                propagation=task.options.prune_propagation_policy,
                dry_run=dry,
                non_empty_namespace=task.options.prune_non_empty_namespace,
            )
        if task.object is None:
            return Change(task.key, Action.SKIPPED, "no object", dry)
        desired = plain(task.object)
        if task.action is TaskAction.HOOK:
            return await self._run_hook(task, desired)
        if task.action is TaskAction.CREATE_NAMESPACE:
            return await self._ensure_namespace(task, desired)
        live = await self._lookup(task.key)
        options = ApplyOptions(
            server_side=task.options.server_side_apply or self._config.server_side,
            replace=task.options.replace,
            force=task.options.force,
            dry_run=dry,
        )
        return await self._applier.apply(ApplyItem(task.key, desired, live, options))

    async def _ensure_namespace(self, task: Task, desired: dict[str, Any]) -> Change:
        """Create the destination namespace when the server does not have it; never edit it."""
        dry = self._config.dry_run
        if await self._get(task.key) is not None:
            return Change(task.key, Action.UNCHANGED, "namespace exists", dry)
        return await self._applier.apply(
            ApplyItem(task.key, desired, None, ApplyOptions(dry_run=dry))
        )

    async def _run_hook(self, task: Task, desired: dict[str, Any]) -> Change:
        """Run one hook at most once per operation, whatever restarts in between.

        The outcome is recorded before the delete policy runs, and every hook object is
        stamped with the operation id, so a resumed operation either reuses what it
        recorded or waits on the object it created, and never creates it again.
        """
        dry = self._config.dry_run
        name = str(task.key)
        recorded = self._state.hook(name)
        if recorded is not None and recorded.outcome.done:
            return _hook_change(task.key, recorded, "ran earlier in this operation")
        policies = task.hook.delete_policies if task.hook else (DeletePolicy.BEFORE_HOOK_CREATION,)
        live = await self._lookup(task.key)
        ours = live is not None and _operation_of(live) == self._state.operation_id
        if recorded is not None and live is None and not dry:
            # Created by this operation, then removed by someone else before its
            # result was seen: running it again would break "once per operation".
            gone = HookRecord(name, HookOutcome.SUCCEEDED, "removed before its result was seen")
            await self._record_hook(gone)
            return _hook_change(task.key, gone, "not run again")
        if not ours:
            if live is not None and not dry and _terminating(live):
                # A previous run on its way out (e.g. its HookSucceeded delete) is not an
                # existing hook: wait until it is gone, then run this operation's.
                if not await wait_gone(task.key, self._lookup, timeout=60, uid=_uid(live)):
                    return Change(task.key, Action.FAILED, "previous hook run still terminating")
                live = None
            if live is not None and not dry:
                if DeletePolicy.BEFORE_HOOK_CREATION not in policies:
                    return Change(task.key, Action.UNCHANGED, "hook already exists", dry)
                await self._delete(task.key, desired)
                if not await wait_gone(task.key, self._lookup, timeout=60, uid=_uid(live)):
                    return Change(
                        task.key, Action.FAILED, "previous hook run was not deleted in 60s"
                    )
            stamped = _stamped(desired, self._state.operation_id)
            change = await self._applier.apply(
                ApplyItem(task.key, stamped, None, ApplyOptions(dry_run=dry))
            )
            if change.failed or dry:
                return change
            await self._record_hook(HookRecord(name, HookOutcome.RUNNING))
        return await self._finish_hook(task, desired, policies)

    async def _finish_hook(
        self, task: Task, desired: dict[str, Any], policies: tuple[DeletePolicy, ...]
    ) -> Change:
        result = await self._wait_hook(task.key)
        succeeded = result == HealthStatus.HEALTHY
        outcome = HookOutcome.SUCCEEDED if succeeded else HookOutcome.FAILED
        message = "" if succeeded else f"hook did not succeed: {result.value}"
        await self._record_hook(HookRecord(str(task.key), outcome, message))
        if (succeeded and DeletePolicy.HOOK_SUCCEEDED in policies) or (
            not succeeded and DeletePolicy.HOOK_FAILED in policies
        ):
            await self._delete(task.key, desired)
        if not succeeded:
            return Change(task.key, Action.FAILED, message)
        return Change(task.key, Action.CREATED, "hook succeeded")

    async def _wait_hook(self, key: ResourceKey) -> HealthStatus:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.hook_timeout
        while loop.time() < deadline:
            status = assess(await self._lookup(key)).status
            if status in (HealthStatus.HEALTHY, HealthStatus.DEGRADED):
                return status
            await asyncio.sleep(self._config.poll)
        return HealthStatus.PROGRESSING

    async def _get(self, key: ResourceKey) -> dict[str, Any] | None:
        """The object as the server has it now (the lookup when the kind is unknown)."""
        res = self._discovery.preferred(key.group, key.kind)
        if res is None:
            return await self._lookup(key)
        try:
            live: dict[str, Any] = await self._client.get(res, key.name, key.namespace or None)
        except NotFound:
            return None
        return live

    async def _delete(self, key: ResourceKey, obj: dict[str, Any]) -> None:
        res = await self._discovery.resource(GVK.of(obj))
        with contextlib.suppress(NotFound):
            await self._client.delete(
                res, key.name, namespace=key.namespace or None, propagation="Foreground"
            )


def _uid(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def _terminating(obj: dict[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def _operation_of(obj: dict[str, Any]) -> str:
    return str(((obj.get("metadata") or {}).get("annotations") or {}).get(OPERATION_ANNOTATION, ""))


def _stamped(obj: dict[str, Any], operation_id: str) -> dict[str, Any]:
    """A copy of the hook ``obj`` carrying the id of the operation that runs it."""
    meta = dict(obj.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), OPERATION_ANNOTATION: operation_id}
    return {**obj, "metadata": meta}


def _hook_change(key: ResourceKey, record: HookRecord, note: str) -> Change:
    if record.outcome is HookOutcome.FAILED:
        return Change(key, Action.FAILED, record.message or "hook did not succeed")
    detail = f"{record.message}; {note}" if record.message else note
    return Change(key, Action.UNCHANGED, f"hook succeeded ({detail})")


def _gated_keys(step: Step) -> list[ResourceKey]:
    return [
        t.key
        for t in step.tasks
        if t.action in (TaskAction.APPLY, TaskAction.CREATE, TaskAction.CREATE_NAMESPACE)
    ]


def _written(changes: ChangeSet) -> dict[ResourceKey, Written]:
    return {c.key: c.written for c in changes.entries if c.written is not None}


def _failure_message(changes: ChangeSet) -> str:
    failed = changes.failed
    head = "; ".join(str(c) for c in failed[:3])
    more = f" (+{len(failed) - 3} more)" if len(failed) > 3 else ""
    return f"{len(failed)} object(s) failed: {head}{more}"


async def _call(persist: Persist, state: SyncOperation) -> None:
    result = persist(state)
    if result is not None:
        await result
