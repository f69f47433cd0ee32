"""Executor control flow without a cluster: resume, persistence, failure and gates.

The step runner is replaced by a recorder (the only fake); ``run`` itself, the
step labels, the state it persists and the health gate are the real code.
"""

from __future__ import annotations

from typing import Any

import pytest

from tether.identity import AppRef, ResourceKey
from tether.kube.changeset import Action, Change, ChangeSet
from tether.plan.annotations import Phase as PlanPhase
from tether.plan.model import Plan, Step, StepPurpose, Task, TaskAction
from tether.sync.executor import Executor, ExecutorConfig, ProgressEvent, ProgressKind, step_labels
from tether.sync.state import OperationPhase, StepRecord, SyncOperation

APP = AppRef("apps", "demo")


def key(name: str, kind: str = "ConfigMap") -> ResourceKey:
    return ResourceKey("", kind, "ns", name)


def step(
    wave: int,
    *names: str,
    purpose: StepPurpose = StepPurpose.APPLY,
    gate: bool = False,
    phase: PlanPhase = PlanPhase.SYNC,
) -> Step:
    action = TaskAction.PRUNE if purpose is StepPurpose.PRUNE else TaskAction.APPLY
    tasks = tuple(
        Task(key(n), action, phase, wave, {"apiVersion": "v1", "kind": "ConfigMap"}) for n in names
    )
    return Step(phase, wave, purpose, tasks, gate)


FAST = ExecutorConfig(poll=0.01)


class Recorder(Executor):
    """Runs no request: each task 'succeeds' unless its name is in ``failing``."""

    def __init__(
        self,
        failing: frozenset[str] = frozenset(),
        live: dict[ResourceKey, Any] | None = None,
        config: ExecutorConfig = FAST,
    ) -> None:
        self.ran: list[tuple[str, ...]] = []
        self.failing = failing
        self.live = live or {}
        self.events: list[ProgressEvent] = []

        async def lookup(k: ResourceKey) -> dict[str, Any] | None:
            return self.live.get(k)

        super().__init__(
            None,
            None,
            None,
            APP,
            lookup,
            config=config,  # type: ignore[arg-type]
            progress=self.events.append,
        )

    async def _run_step(self, step: Step) -> ChangeSet:
        names = tuple(t.key.name for t in step.tasks)
        self.ran.append(names)
        return ChangeSet.of(
            Change(t.key, Action.FAILED if t.key.name in self.failing else Action.CREATED, "x")
            for t in step.tasks
        )


PLAN = Plan(
    (step(0, "a"), step(1, "b", "c"), step(2, "d"), step(2, "e", purpose=StepPurpose.PRUNE))
)


async def run(
    executor: Executor, plan: Plan, state: SyncOperation
) -> tuple[SyncOperation, list[SyncOperation]]:
    saved: list[SyncOperation] = []

    async def persist(s: SyncOperation) -> None:
        saved.append(s)

    return await executor.run(plan, state, persist), saved


async def test_fresh_run_executes_every_step_and_persists_after_each() -> None:
    ex = Recorder()
    final, saved = await run(ex, PLAN, SyncOperation.begin("p", "r", 4))
    assert ex.ran == [("a",), ("b", "c"), ("d",), ("e",)]
    assert final.phase is OperationPhase.SUCCEEDED and final.finished_at
    # after the last step the finished state is the one save (no Running save before it)
    assert [s.next_step for s in saved] == [1, 2, 3, 4]
    assert [s.phase for s in saved] == [OperationPhase.RUNNING] * 3 + [OperationPhase.SUCCEEDED]
    assert saved[-1] == final
    assert [s.label for s in final.steps] == step_labels(PLAN.steps)


async def test_resume_skips_recorded_steps_and_keeps_their_results() -> None:
    first, _ = await run(Recorder(failing={"d"}), PLAN, SyncOperation.begin("p", "r", 4))
    assert first.phase is OperationPhase.FAILED
    # a killed process leaves the last persisted state: steps 0 and 1 done, still running
    killed = SyncOperation.begin("p", "r", 4)
    for record in first.steps[:2]:
        killed = killed.step_done(record)
    ex = Recorder()
    final, _ = await run(ex, PLAN, killed)
    assert ex.ran == [("d",), ("e",)]
    assert final.phase is OperationPhase.SUCCEEDED
    assert [s.index for s in final.steps] == [0, 1, 2, 3]
    assert final.steps[0] == first.steps[0]


async def test_resume_matches_steps_by_label_when_the_new_plan_drops_one() -> None:
    state = SyncOperation.begin("p", "r", 3)
    state = state.step_done(StepRecord(0, "Sync/0/apply#0"))
    state = state.step_done(StepRecord(1, "Sync/1/apply#0"))
    # re-planned from the new live state: wave 0 has nothing left? labels still line up
    replanned = Plan((step(1, "b"), step(2, "d")))
    ex = Recorder()
    final, _ = await run(ex, replanned, state)
    assert ex.ran == [("d",)]
    assert final.phase is OperationPhase.SUCCEEDED


async def test_failed_step_stops_runs_sync_fail_and_never_reaches_prunes() -> None:
    fail_hook = step(0, "on-fail", phase=PlanPhase.SYNC_FAIL)
    plan = Plan(PLAN.steps, sync_fail=(fail_hook,))
    ex = Recorder(failing={"c"})
    final, saved = await run(ex, plan, SyncOperation.begin("p", "r", 4))
    assert ex.ran == [("a",), ("b", "c"), ("on-fail",)]
    assert final.phase is OperationPhase.FAILED
    assert "1 object(s) failed" in final.message and "c" in final.message
    assert final.steps[-1].label == "SyncFail"
    assert saved[-1] == final and not saved[-1].resumable_for("p")


async def test_health_gate_timeout_fails_the_step_with_the_unhealthy_object() -> None:
    plan = Plan((step(0, "a", gate=True), step(1, "b")))
    ex = Recorder(config=ExecutorConfig(poll=0.01, health_timeout=0.05))
    final, _ = await run(ex, plan, SyncOperation.begin("p", "r", 2))
    assert ex.ran == [("a",)]
    assert final.phase is OperationPhase.FAILED
    assert "health gate timed out" in final.message and "ConfigMap ns/a" in final.message
    assert final.steps[0].healthy is False


async def test_health_gate_passes_when_objects_are_healthy() -> None:
    live = {key("a"): {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}}
    plan = Plan((step(0, "a", gate=True), step(1, "b")))
    ex = Recorder(live=live, config=ExecutorConfig(poll=0.01, health_timeout=1))
    final, _ = await run(ex, plan, SyncOperation.begin("p", "r", 2))
    assert final.phase is OperationPhase.SUCCEEDED and ex.ran == [("a",), ("b",)]
    assert any(e.kind is ProgressKind.GATE for e in ex.events)


async def test_dry_run_skips_health_gates() -> None:
    plan = Plan((step(0, "a", gate=True), step(1, "b")))
    ex = Recorder(config=ExecutorConfig(poll=0.01, health_timeout=0.01, dry_run=True))
    final, _ = await run(ex, plan, SyncOperation.begin("p", "r", 2, dry_run=True))
    assert final.phase is OperationPhase.SUCCEEDED and ex.ran == [("a",), ("b",)]


@pytest.mark.parametrize(
    ("steps", "labels"),
    [
        ((step(0, "a"), step(0, "b")), ["Sync/0/apply#0", "Sync/0/apply#1"]),
        (
            (step(-1, "a"), step(0, "b", purpose=StepPurpose.PRUNE)),
            ["Sync/-1/apply#0", "Sync/0/prune#0"],
        ),
    ],
)
def test_step_labels_are_stable_and_unique(steps: tuple[Step, ...], labels: list[str]) -> None:
    assert step_labels(steps) == labels
