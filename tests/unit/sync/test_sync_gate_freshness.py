"""The health gate never judges a cached object older than the step's write to it.

Fakes (pure logic only): a lookup standing in for the watch cache that keeps
serving the pre-write Deployment, and a client/discovery pair answering the
direct GET. ``Written``, ``fresh_lookup``, ``wait_healthy`` and ``Executor.run``
are the real code.
"""

from __future__ import annotations

from typing import Any

from tether.identity import AppRef, ResourceKey
from tether.kube.changeset import Action, Change, ChangeSet, Written
from tether.kube.errors import NotFound
from tether.kube.resource import ApiResource
from tether.kube.wait import fresh_lookup, wait_healthy
from tether.plan.annotations import Phase as PlanPhase
from tether.plan.model import Plan, Step, StepPurpose, Task, TaskAction
from tether.sync.executor import Executor, ExecutorConfig, ProgressEvent, ProgressKind, step_labels
from tether.sync.state import OperationPhase, SyncOperation

APP = AppRef("apps", "demo")
KEY = ResourceKey("apps", "Deployment", "ns", "web")
LATER = ResourceKey("", "ConfigMap", "ns", "later")


def deployment(generation: int, observed: int, rv: str, *, ready: bool = True) -> dict[str, Any]:
    """A one-replica Deployment; ``ready`` says whether its pod runs the latest template."""
    replicas = 1 if ready else 0
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "ns",
            "generation": generation,
            "resourceVersion": rv,
        },
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": observed,
            "replicas": 1,
            "updatedReplicas": replicas,
            "readyReplicas": 1,
            "availableReplicas": 1,
            "conditions": [{"type": "Available", "status": "True"}],
        },
    }


STALE = deployment(1, 1, "100")  # what the cache still holds: healthy, previous generation
WRITE = Written("105", 2, "100")  # the patch that bumped the generation to 2


class Server:
    """Answers direct GETs with a scripted series of versions (the last one repeats)."""

    def __init__(self, *versions: dict[str, Any] | None) -> None:
        self.versions = list(versions)
        self.gets = 0

    async def get(self, res: ApiResource, name: str, namespace: str | None = None) -> Any:
        self.gets += 1
        obj = self.versions[min(self.gets, len(self.versions)) - 1]
        if obj is None:
            raise NotFound(f"{name} not found")
        return obj

    async def fetch(self, key: ResourceKey) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self.get(DEPLOYMENTS, key.name, key.namespace)
        except NotFound:
            return None
        return found


DEPLOYMENTS = ApiResource("apps", "v1", "Deployment", "deployments", True)


class Discovery:
    def preferred(self, group: str, kind: str) -> ApiResource | None:
        return DEPLOYMENTS if (group, kind) == ("apps", "Deployment") else None


async def cached(_key: ResourceKey) -> dict[str, Any] | None:
    return STALE


# -- Written.is_older ---------------------------------------------------------------------


def test_lower_generation_is_older_than_the_write() -> None:
    assert WRITE.is_older(STALE)
    assert not WRITE.is_older(deployment(2, 1, "106"))
    assert not WRITE.is_older(deployment(3, 3, "110"))


def test_same_generation_at_the_pre_write_version_is_older() -> None:
    metadata_only = Written("105", 1, "100")  # a label patch does not bump the generation
    assert metadata_only.is_older(STALE)
    assert not metadata_only.is_older(deployment(1, 1, "105"))


def test_object_without_generation_is_judged_by_the_replaced_version_only() -> None:
    mark = Written.of(
        {"metadata": {"resourceVersion": "7"}}, {"metadata": {"resourceVersion": "6"}}
    )
    assert mark == Written("7", None, "6")
    assert mark.is_older({"metadata": {"resourceVersion": "6"}})
    assert not mark.is_older({"metadata": {"resourceVersion": "8"}})
    assert not mark.is_older({"metadata": {}})


def test_created_object_missing_from_the_cache_is_older() -> None:
    created = Written.of({"metadata": {"resourceVersion": "9", "generation": 1}})
    assert created == Written("9", 1, "")
    assert created.is_older(None)
    assert not created.is_older(deployment(1, 0, "9"))


# -- fresh_lookup and the gate ------------------------------------------------------------


async def test_fresh_lookup_fetches_only_what_the_cache_has_older() -> None:
    server = Server(deployment(2, 1, "106", ready=False))
    lookup = fresh_lookup(cached, server.fetch, {KEY: WRITE})
    fetched = await lookup(KEY)
    assert fetched is not None and fetched["metadata"]["generation"] == 2
    assert server.gets == 1
    assert await lookup(LATER) is STALE  # nothing written: the cache is the answer
    assert server.gets == 1


async def test_gate_waits_for_the_new_generation_although_the_cache_shows_it_healthy() -> None:
    rollout = (
        deployment(2, 1, "106"),  # controller has not observed the new spec yet
        deployment(2, 2, "107", ready=False),  # observed, new pod not running
        deployment(2, 2, "108"),
    )
    server = Server(*rollout)
    lookup = fresh_lookup(cached, server.fetch, {KEY: WRITE})
    result = await wait_healthy([KEY], lookup, timeout=5, poll=0.001)
    assert result.passed
    assert server.gets == 3


async def test_gate_times_out_when_the_rollout_never_finishes() -> None:
    server = Server(deployment(2, 2, "107", ready=False))
    lookup = fresh_lookup(cached, server.fetch, {KEY: WRITE})
    result = await wait_healthy([KEY], lookup, timeout=0.05, poll=0.01)
    assert not result.passed and result.timed_out
    assert "0 of 1 replicas updated" in result.message


# -- the executor wires the step's writes into its gate -----------------------------------


class Stepper(Executor):
    """Reports the step's changes (with their writes) instead of sending requests."""

    def __init__(self, server: Server, written: Written | None, timeout: float = 5) -> None:
        self.events: list[ProgressEvent] = []
        self.written = written
        config = ExecutorConfig(poll=0.001, health_timeout=timeout)
        super().__init__(
            server,  # type: ignore[arg-type]
            Discovery(),  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            APP,
            cached,
            config=config,
            progress=self.events.append,
        )

    async def _run_step(self, step: Step) -> ChangeSet:
        return ChangeSet.of(
            Change(t.key, Action.CONFIGURED, written=self.written) for t in step.tasks
        )


def two_waves() -> Plan:
    first = Task(KEY, TaskAction.APPLY, PlanPhase.SYNC, 0, STALE)
    second = Task(LATER, TaskAction.APPLY, PlanPhase.SYNC, 1, {"kind": "ConfigMap"})
    return Plan(
        (
            Step(PlanPhase.SYNC, 0, StepPurpose.APPLY, (first,), True),
            Step(PlanPhase.SYNC, 1, StepPurpose.APPLY, (second,), True),
        )
    )


async def run(executor: Executor) -> SyncOperation:
    async def persist(_s: SyncOperation) -> None:
        return None

    return await executor.run(two_waves(), SyncOperation.begin("p", "r", 2), persist)


async def test_executor_gate_reads_the_server_while_the_cache_lags() -> None:
    server = Server(deployment(2, 1, "106"), deployment(2, 2, "107"))
    executor = Stepper(server, WRITE)
    final = await run(executor)
    assert final.phase is OperationPhase.SUCCEEDED
    assert server.gets == 2  # passed only once the server showed generation 2 observed
    assert [e.kind for e in executor.events if e.kind is ProgressKind.GATE] == [ProgressKind.GATE]


async def test_executor_gate_fails_while_the_new_generation_is_unobserved() -> None:
    server = Server(deployment(2, 1, "106"))
    final = await run(Stepper(server, WRITE, timeout=0.05))
    assert final.phase is OperationPhase.FAILED
    assert "health gate timed out" in final.message and "Deployment ns/web" in final.message
    assert [s.label for s in final.steps] == step_labels(two_waves().steps)[:1]


async def test_executor_gate_trusts_the_cache_when_nothing_was_written() -> None:
    server = Server(None)
    final = await run(Stepper(server, None))
    assert final.phase is OperationPhase.SUCCEEDED
    assert server.gets == 0


async def test_object_deleted_after_the_write_is_missing_not_stale_healthy() -> None:
    final = await run(Stepper(Server(None), WRITE, timeout=0.05))
    assert final.phase is OperationPhase.FAILED
    assert "Deployment ns/web is Missing" in final.message
