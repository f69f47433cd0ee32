"""The Application status is a pure function of typed inputs: table-driven."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tether.api.conditions import Reason
from tether.controller.appstatus import (
    Mark,
    Problem,
    compared_status,
    problem_status,
    readiness,
)
from tether.controller.policy import Decision, Hold, SyncAction
from tether.controller.ports import Comparison, ResourceState, SourceCommit
from tether.engine.model import SyncStatus
from tether.health import HealthStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)
REV = "refs/heads/main@sha1:" + "a" * 40
NONE = Decision(SyncAction.NONE, "sync status is Synced")


def resource(
    status: SyncStatus = SyncStatus.SYNCED,
    health: HealthStatus = HealthStatus.HEALTHY,
    *,
    hook: bool = False,
    name: str = "cm",
) -> ResourceState:
    return ResourceState("ConfigMap", name, version="v1", namespace="ns", status=status,
                         health=health, hook=hook, drifted_fields=("/data/k",))  # fmt: skip


def comparison(*resources: ResourceState, health: HealthStatus = HealthStatus.HEALTHY,
               conflicts: tuple[str, ...] = (), empty: bool = False) -> Comparison:  # fmt: skip
    return Comparison(REV, resources, health, "", conflicts, empty)


CASES = [
    ("synced and healthy", comparison(resource()), NONE, None, False, None,
     Mark.READY, Reason.SUCCEEDED),
    ("drift", comparison(resource(SyncStatus.OUT_OF_SYNC)), NONE, None, False, None,
     Mark.NOT_READY, Reason.OUT_OF_SYNC),
    ("drift while suspended", comparison(resource(SyncStatus.OUT_OF_SYNC)), NONE, None, True,
     None, Mark.NOT_READY, Reason.SUSPENDED),
    ("a hook never counts as drift", comparison(resource(), resource(SyncStatus.OUT_OF_SYNC,
     hook=True, name="hook")), NONE, None, False, None, Mark.READY, Reason.SUCCEEDED),
    ("conflict wins", comparison(resource(SyncStatus.UNKNOWN), conflicts=("ConfigMap ns/cm",)),
     NONE, None, False, None, Mark.NOT_READY, Reason.SHARED_RESOURCE),
    ("failed sync of this revision", comparison(resource(SyncStatus.OUT_OF_SYNC)),
     Decision(SyncAction.WAIT, "waiting"), "apply failed", False, None,
     Mark.NOT_READY, Reason.SYNC_FAILED),
    ("retries exhausted stalls", comparison(resource(SyncStatus.OUT_OF_SYNC)),
     Decision(SyncAction.NONE, "limit", hold=Hold.RETRIES_EXHAUSTED), "apply failed", False,
     None, Mark.STALLED, Reason.SYNC_FAILED),
    ("retry pending", comparison(resource(SyncStatus.OUT_OF_SYNC)),
     Decision(SyncAction.WAIT, "waiting to retry"), None, False, None,
     Mark.RECONCILING, Reason.SYNCING),
    ("empty render held", comparison(resource(SyncStatus.OUT_OF_SYNC), empty=True),
     Decision(SyncAction.NONE, "allowEmpty is false", hold=Hold.EMPTY_RENDER), None, False, None,
     Mark.NOT_READY, Reason.EMPTY_RENDER),
    ("progressing", comparison(resource(), health=HealthStatus.PROGRESSING), NONE, None, False,
     None, Mark.RECONCILING, Reason.PROGRESSING),
    ("degraded", comparison(resource(), health=HealthStatus.DEGRADED), NONE, None, False, None,
     Mark.NOT_READY, "Degraded"),
    ("outage overrides", comparison(resource()), NONE, None, False,
     Problem(Reason.SOURCE_UNAVAILABLE, "git down"), Mark.NOT_READY, Reason.SOURCE_UNAVAILABLE),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "compared", "decision", "failure", "suspended", "outage", "mark", "reason"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_readiness(
    name: str,
    compared: Comparison,
    decision: Decision,
    failure: str | None,
    suspended: bool,
    outage: Problem | None,
    mark: Mark,
    reason: str,
) -> None:
    verdict = readiness(compared, decision, failure=failure, suspended=suspended, outage=outage)
    assert (verdict.mark, verdict.reason) == (mark, reason)


def test_compared_status_shapes_sync_health_and_inventory() -> None:
    status = compared_status(
        {"history": [{"id": 0}], "message": "stale"},
        generation=3,
        comparison=comparison(resource(SyncStatus.OUT_OF_SYNC)),
        decision=NONE,
        suspended=False,
        refresh="r1",
        now=NOW,
    )
    assert status["sync"] == {"status": "OutOfSync", "revision": REV}
    assert status["health"] == {"status": "Healthy"}
    assert status["resources"][0]["driftedFields"] == ["/data/k"]
    assert status["message"].startswith("1 out of sync: ConfigMap ns/cm")
    assert status["history"] == [{"id": 0}] and status["lastHandledRefresh"] == "r1"
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "OutOfSync")


def test_a_new_problem_replaces_the_stale_message_and_keeps_the_inventory() -> None:
    previous = {"resources": [{"kind": "ConfigMap", "name": "cm"}], "message": "old news"}
    status = problem_status(
        previous,
        generation=2,
        problem=Problem(Reason.UNKNOWN_KIND, "a.yaml[doc 1]: Rollout ns/r: unknown kind"),
        resolved=SourceCommit("main", "a" * 40, "refs/heads/main"),
        refresh="",
        now=NOW,
    )
    assert status["message"] == "a.yaml[doc 1]: Rollout ns/r: unknown kind"
    assert status["sync"] == {"status": "Unknown", "revision": REV}
    assert status["resources"] == previous["resources"]
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "UnknownKind")


SAVED_PLAN = {
    "planId": "p",
    "nextStep": 2,
    "totalSteps": 3,
    "steps": [
        {
            "index": 0,
            "label": "Sync/0/apply#0",
            "results": [
                {"key": "/ConfigMap:shop/own", "action": "created"},
                {"key": "apps/Deployment:shop/web", "action": "failed", "message": "422 Invalid"},
            ],
        },
        {
            "index": 1,
            "label": "Sync/0/prune#0",
            "results": [
                {"key": "/Namespace:/shop", "action": "skipped", "message": "still holds X"},
                {"key": "/ConfigMap:shop/old", "action": "pruned"},
                {"key": "not a key", "action": "created"},
            ],
        },
    ],
}


@pytest.mark.parametrize(
    ("plan", "step", "statuses"),
    [
        ({}, "0/0 steps done", []),
        (
            SAVED_PLAN,
            "2/3 steps done, last Sync/0/prune#0",
            [
                ("ConfigMap", "shop", "own", "Synced"),
                ("Deployment", "shop", "web", "SyncFailed"),
                ("Namespace", None, "shop", "PruneSkipped"),
                ("ConfigMap", "shop", "old", "Pruned"),
            ],
        ),
    ],
)
def test_operation_progress_is_the_step_and_per_object_results(
    plan: dict[str, Any], step: str, statuses: list[tuple[str, str | None, str, str]]
) -> None:
    from tether.api.application import OperationState
    from tether.controller.appstatus import operation_progress

    progress = operation_progress(plan, "main@sha1:abc")
    assert progress["step"] == step
    resources = progress["syncResult"]["resources"]
    assert [(r["kind"], r.get("namespace"), r["name"], r["status"]) for r in resources] == statuses
    # valid against the CRD model, and nothing in it that the model would drop
    op = {"phase": "Running", **progress}
    dumped = OperationState.model_validate(op).model_dump(by_alias=True, exclude_unset=True)
    assert {k: dumped[k] for k in progress} == progress


def test_a_skipped_prune_keeps_its_reason_in_the_sync_result() -> None:
    from tether.controller.appstatus import operation_progress

    resources = operation_progress(SAVED_PLAN, "r")["syncResult"]["resources"]
    skipped = next(r for r in resources if r["status"] == "PruneSkipped")
    assert skipped["message"] == "still holds X" and skipped["action"] == "skipped"


# -- PermissionDenied and PruneSkipped ------------------------------------------------

REFUSED = (
    "ConfigMap ns/cm: forbidden: system:serviceaccount:ns:deployer cannot create configmaps "
    "(the core API group) in namespace ns (403 Forbidden)"
)
HELD = (
    "not pruned: namespace shop still holds objects this app does not own: ConfigMap "
    "shop/foreign (set PruneNonEmptyNamespace=true on the Namespace to prune anyway)"
)


def operation(phase: str, *results: dict[str, Any]) -> dict[str, Any]:
    plan = {"steps": [{"index": 0, "label": "Sync/0", "results": list(results)}]}
    return {"phase": phase, "revision": REV, "message": "failed", "plan": plan}


def namespace_waiting(name: str = "shop") -> ResourceState:
    return ResourceState("Namespace", name, version="v1", status=SyncStatus.OUT_OF_SYNC,
                         requires_pruning=True)  # fmt: skip


def status_after(op: dict[str, Any], compared: Comparison, **kw: Any) -> dict[str, Any]:
    return compared_status(
        {"operationState": op, **kw}, generation=1, comparison=compared,
        decision=Decision(SyncAction.WAIT, "waiting to retry"), suspended=False, refresh="",
        now=NOW,
    )  # fmt: skip


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        ({"key": "/ConfigMap:ns/cm", "action": "failed", "message": REFUSED,
          "reason": "Forbidden"}, "PermissionDenied"),
        ({"key": "/ConfigMap:ns/cm", "action": "failed", "message": "422 Invalid"},
         "SyncFailed"),
        ({"key": "/ConfigMap:ns/cm", "action": "failed", "message": "x", "reason": "Newer"},
         "SyncFailed"),
    ],
)  # fmt: skip
def test_a_sync_the_server_refused_is_permission_denied(
    result: dict[str, Any], reason: str
) -> None:
    status = status_after(operation("Failed", result), comparison(resource(SyncStatus.OUT_OF_SYNC)))
    ready = conditions(status)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", reason)
    assert ready["message"] == "sync failed: failed"


def test_failure_problem_names_a_403_permission_denied() -> None:
    from tether.controller.application import failure_problem
    from tether.kube.errors import ObjectRef, from_response

    message = (
        'configmaps is forbidden: User "system:serviceaccount:t:tether" cannot list resource '
        '"configmaps" in API group "" at the cluster scope'
    )
    error = from_response(403, {"reason": "Forbidden", "message": message}, ObjectRef("ConfigMap"))
    problem = failure_problem(Reason.COMPARE_FAILED, error)
    assert problem.reason is Reason.PERMISSION_DENIED and not problem.stalled
    assert problem.message == (
        "ConfigMap: forbidden: system:serviceaccount:t:tether cannot list configmaps "
        "(the core API group) in all namespaces (403 Forbidden)"
    )


SKIPPED = {"key": "/Namespace:/shop", "action": "skipped", "message": HELD,
           "reason": "NamespaceNotEmpty"}  # fmt: skip


@pytest.mark.parametrize(
    ("result", "compared", "present"),
    [
        (SKIPPED, comparison(resource(), namespace_waiting()), True),
        # pruned since, deleted by hand or back in Git: no longer waiting to be pruned
        (SKIPPED, comparison(resource()), False),
        # another namespace waits; this one's skip is over
        (SKIPPED, comparison(resource(), namespace_waiting("other")), False),
        # skipped for Prune=false: not this condition
        ({"key": "/Namespace:/shop", "action": "skipped", "message": "Prune=false"},
         comparison(resource(), namespace_waiting()), False),
    ],
)  # fmt: skip
def test_a_skipped_namespace_prune_is_a_warning_condition_while_it_waits(
    result: dict[str, Any], compared: Comparison, present: bool
) -> None:
    status = status_after(operation("Succeeded", result), compared)
    found = conditions(status).get("PruneSkipped")
    if not present:
        assert found is None
        return
    assert found is not None
    assert (found["status"], found["reason"]) == ("True", "NamespaceNotEmpty")
    assert found["message"] == HELD  # the namespace and the objects not owned by the app


def test_the_prune_skipped_condition_clears_once_the_namespace_is_gone() -> None:
    op = operation("Succeeded", SKIPPED)
    held = status_after(op, comparison(resource(), namespace_waiting()))
    assert "PruneSkipped" in conditions(held)
    cleared = compared_status(
        held, generation=1, comparison=comparison(resource()), decision=NONE, suspended=False,
        refresh="", now=NOW,
    )  # fmt: skip
    assert "PruneSkipped" not in conditions(cleared)
    from tether.api.application import ApplicationStatus

    ApplicationStatus.model_validate(held)  # the condition fits the CRD's status model
