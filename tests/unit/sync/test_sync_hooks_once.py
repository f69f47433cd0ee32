"""Hooks run once per operation, wherever the process dies.

A small in-memory cluster stands in at the client seam (applier, lookup, delete); the
executor, the operation state and its persistence are the real code. A "kill" is an
exception raised at the N-th interaction with the outside world (a write, a delete or
a persist); the run then resumes from the last state that was persisted, as a restarted
operator does, until the operation finishes. For every kill point, each hook object must
have been created exactly once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest

from tether.identity import OPERATION_ANNOTATION, AppRef, ResourceKey
from tether.kube.changeset import Action, Change
from tether.plan.annotations import DeletePolicy
from tether.plan.annotations import Phase as PlanPhase
from tether.plan.model import HookInfo, Plan, Step, StepPurpose, Task, TaskAction
from tether.sync.executor import Executor, ExecutorConfig
from tether.sync.state import HookOutcome, OperationPhase, SyncOperation

APP = AppRef("apps", "demo")


class Killed(Exception):
    """The process died here."""


@dataclass
class Cluster:
    """Objects by key; Jobs complete as soon as they are created."""

    objects: dict[ResourceKey, dict[str, Any]] = field(default_factory=dict)
    created: dict[ResourceKey, int] = field(default_factory=dict)
    uids: itertools.count = field(default_factory=itertools.count)
    kill_at: int = -1
    calls: int = 0

    def tick(self) -> None:
        """Count one outside interaction, and die if this is the chosen one."""
        self.calls += 1
        if self.calls == self.kill_at:
            raise Killed

    def create(self, key: ResourceKey, obj: dict[str, Any]) -> dict[str, Any]:
        self.tick()
        made = {**obj, "metadata": {**obj["metadata"], "uid": f"u{next(self.uids)}"}}
        if obj["kind"] == "Job":
            made["status"] = {
                "succeeded": 1,
                "conditions": [{"type": "Complete", "status": "True"}],
            }
        self.objects[key] = made
        self.created[key] = self.created.get(key, 0) + 1
        # dying right after the server accepted the write: the object exists
        self.tick()
        return made


class FakeApplier:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    async def apply(self, item: Any) -> Change:
        self.cluster.create(item.key, item.desired)
        return Change(item.key, Action.CREATED)


class FakeDiscovery:
    def preferred(self, group: str, kind: str) -> None:
        return None

    async def resource(self, gvk: Any) -> Any:
        return gvk


class FakeClient:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    async def delete(self, res: Any, name: str, **_kw: Any) -> None:
        self.cluster.tick()
        for key in [k for k in self.cluster.objects if k.name == name]:
            del self.cluster.objects[key]


def job(name: str, phase: PlanPhase, *policies: DeletePolicy) -> Task:
    obj = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "ns"}}
    key = ResourceKey("batch", "Job", "ns", name)
    return Task(key, TaskAction.HOOK, phase, 0, obj, hook=HookInfo(policies, "argocd"))


def configmap(name: str) -> Task:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}}
    return Task(ResourceKey("", "ConfigMap", "ns", name), TaskAction.APPLY, PlanPhase.SYNC, 0, obj)


PLAN = Plan(
    (
        Step(
            PlanPhase.PRE_SYNC,
            0,
            StepPurpose.APPLY,
            (
                job("migrate", PlanPhase.PRE_SYNC, DeletePolicy.HOOK_SUCCEEDED),
                job("backup", PlanPhase.PRE_SYNC, DeletePolicy.BEFORE_HOOK_CREATION),
            ),
            gate=False,
        ),
        Step(
            PlanPhase.SYNC,
            0,
            StepPurpose.APPLY,
            (configmap("app"), job("during", PlanPhase.SYNC, DeletePolicy.BEFORE_HOOK_CREATION)),
            gate=False,
        ),
        Step(
            PlanPhase.POST_SYNC,
            0,
            StepPurpose.APPLY,
            (job("smoke", PlanPhase.POST_SYNC, DeletePolicy.HOOK_SUCCEEDED),),
            gate=False,
        ),
    )
)
HOOKS = [t.key for t in PLAN.tasks() if t.action is TaskAction.HOOK]


def executor(cluster: Cluster) -> Executor:
    async def lookup(key: ResourceKey) -> dict[str, Any] | None:
        return cluster.objects.get(key)

    return Executor(
        FakeClient(cluster),  # type: ignore[arg-type]
        FakeDiscovery(),  # type: ignore[arg-type]
        FakeApplier(cluster),  # type: ignore[arg-type]
        APP,
        lookup,
        config=ExecutorConfig(poll=0.001, hook_timeout=1),
    )


async def run_until_done(cluster: Cluster, state: SyncOperation) -> tuple[SyncOperation, int]:
    """Run, and after each kill resume from the last persisted state; count the restarts."""
    saved = [state]

    async def persist(s: SyncOperation) -> None:
        cluster.tick()
        saved.append(s)

    restarts = 0
    while True:
        try:
            return await executor(cluster).run(PLAN, saved[-1], persist), restarts
        except Killed:
            restarts += 1


async def total_calls() -> int:
    cluster = Cluster()
    await run_until_done(cluster, SyncOperation.begin("p", "r", len(PLAN.steps)))
    return cluster.calls


async def test_an_uninterrupted_operation_records_every_hook() -> None:
    cluster = Cluster()
    final, restarts = await run_until_done(cluster, SyncOperation.begin("p", "r", 3))
    assert restarts == 0 and final.phase is OperationPhase.SUCCEEDED
    assert {h.key: h.outcome for h in final.hooks} == {str(k): HookOutcome.SUCCEEDED for k in HOOKS}
    assert cluster.created == {**{k: 1 for k in HOOKS}, configmap("app").key: 1}
    # HookSucceeded hooks were removed after their outcome was recorded; the others stay
    remaining = {k.name for k in cluster.objects if k.kind == "Job"}
    assert remaining == {"backup", "during"}
    stamped = cluster.objects[HOOKS[1]]["metadata"]["annotations"][OPERATION_ANNOTATION]
    assert stamped == final.operation_id


@pytest.mark.parametrize("kill_at", range(1, 40))
async def test_a_kill_at_any_point_never_runs_a_hook_twice(kill_at: int) -> None:
    cluster = Cluster(kill_at=kill_at)
    final, restarts = await run_until_done(cluster, SyncOperation.begin("p", "r", 3))
    assert final.phase is OperationPhase.SUCCEEDED, final.message
    assert {k: cluster.created.get(k, 0) for k in HOOKS} == {k: 1 for k in HOOKS}
    if kill_at <= await total_calls():
        assert restarts == 1


async def test_the_kill_points_cover_the_whole_operation() -> None:
    # The parametrised range above must reach past the last interaction, or some
    # kill points would never be tried.
    assert await total_calls() < 40


async def test_a_new_operation_runs_its_hooks_again() -> None:
    cluster = Cluster()
    await run_until_done(cluster, SyncOperation.begin("p", "r", 3))
    await run_until_done(cluster, SyncOperation.begin("p", "r", 3))
    assert {k: cluster.created[k] for k in HOOKS} == {k: 2 for k in HOOKS}


async def test_a_hook_removed_before_its_result_was_seen_is_not_run_again() -> None:
    cluster = Cluster()
    state = SyncOperation.begin("p", "r", 3)
    saved: list[SyncOperation] = []

    async def persist(s: SyncOperation) -> None:
        saved.append(s)
        if any(h.outcome is HookOutcome.RUNNING for h in s.hooks):
            raise Killed  # died right after recording the first hook as running

    with pytest.raises(Killed):
        await executor(cluster).run(PLAN, state, persist)
    running = saved[-1]
    gone = next(ResourceKey.parse(h.key) for h in running.hooks)
    del cluster.objects[gone]  # e.g. a ttlSecondsAfterFinished cleanup
    final, _ = await run_until_done(cluster, running)
    assert final.phase is OperationPhase.SUCCEEDED
    assert cluster.created[gone] == 1
    assert "removed before its result was seen" in (final.hook(str(gone)) or "").__str__()


async def test_a_previous_run_still_terminating_is_waited_out_then_run() -> None:
    cluster = Cluster()
    post = HOOKS[-1]  # HookSucceeded only: an existing object would be kept as is
    old = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": post.name}}
    old["metadata"].update(uid="old", deletionTimestamp="2026-01-01T00:00:00Z")
    cluster.objects[post] = old
    lookups = 0
    ex = executor(cluster)
    real_lookup = ex._lookup

    async def lookup(key: ResourceKey) -> dict[str, Any] | None:
        nonlocal lookups
        if key == post and cluster.objects.get(key) is old:
            lookups += 1
            if lookups == 3:  # the garbage collector finishes the deletion
                del cluster.objects[key]
        return await real_lookup(key)

    ex._lookup = lookup
    final = await ex.run(PLAN, SyncOperation.begin("p", "r", 3), lambda _s: None)
    assert final.phase is OperationPhase.SUCCEEDED and cluster.created[post] == 1
    assert lookups >= 3
