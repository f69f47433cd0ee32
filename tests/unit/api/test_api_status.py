"""Status values: conditions, history, and the one status PATCH per reconcile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tether.api import (
    READY,
    RECONCILING,
    STALLED,
    ApplicationStatus,
    Condition,
    HealthState,
    OperationState,
    Reason,
    ResourceStatus,
    SyncState,
    append_history,
    find_condition,
    is_condition_true,
    mark_not_ready,
    mark_ready,
    mark_reconciling,
    mark_stalled,
    merge_patch,
    remove_condition,
    set_condition,
    status_patch,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_set_condition_adds_then_keeps_transition_time_while_status_holds() -> None:
    first = set_condition([], READY, "False", "RenderFailed", "bad", now=T0)
    assert first[0].last_transition_time == T0
    same_status = set_condition(first, READY, "False", "FetchFailed", "worse", now=T1)
    assert same_status[0].last_transition_time == T0
    assert same_status[0].reason == "FetchFailed" and same_status[0].message == "worse"
    flipped = set_condition(same_status, READY, "True", "Succeeded", "", now=T1)
    assert flipped[0].last_transition_time == T1


def test_setting_the_same_condition_twice_is_equal() -> None:
    a = set_condition([], READY, "True", "Succeeded", "ok", observed_generation=2, now=T0)
    b = set_condition(a, READY, "True", "Succeeded", "ok", observed_generation=2, now=T1)
    assert a == b


def test_set_condition_keeps_order_and_does_not_mutate() -> None:
    start = set_condition([], "A", "True", "X", now=T0)
    start = set_condition(start, "B", "True", "X", now=T0)
    before = list(start)
    out = set_condition(start, "A", "False", "Y", now=T1)
    assert [c.type for c in out] == ["A", "B"]
    assert start == before


def test_find_remove_is_true() -> None:
    conds = set_condition([], READY, "True", "Succeeded", now=T0)
    assert is_condition_true(conds, READY)
    assert not is_condition_true(conds, STALLED)
    assert find_condition(conds, STALLED) is None
    assert remove_condition(conds, READY) == []


def test_kstatus_transitions() -> None:
    conds = mark_reconciling([], Reason.PROGRESSING, "syncing", generation=4, now=T0)
    assert {c.type: c.status for c in conds} == {RECONCILING: "True", READY: "Unknown"}
    conds = mark_ready(conds, Reason.SUCCEEDED, "synced", generation=4, now=T1)
    assert {c.type: c.status for c in conds} == {READY: "True"}
    assert conds[0].observed_generation == 4
    conds = mark_stalled(conds, Reason.AUTHENTICATION_FAILED, "login refused", generation=5, now=T1)
    assert {c.type: c.status for c in conds} == {READY: "False", STALLED: "True"}
    conds = mark_not_ready(conds, Reason.FETCH_FAILED, "timeout", generation=5, now=T1)
    assert {c.type: c.status for c in conds} == {READY: "False"}


def test_condition_reason_must_be_camel_case_and_long_messages_are_cut() -> None:
    with pytest.raises(ValueError):
        set_condition([], READY, "False", "not a reason", now=T0)
    long = set_condition([], READY, "False", "RenderFailed", "x" * 100_000, now=T0)
    assert len(long[0].message) == 32768 and long[0].message.endswith("...")


def test_condition_json_form() -> None:
    (cond,) = set_condition([], READY, "True", "Succeeded", "ok", observed_generation=1, now=T0)
    assert cond.to_dict() == {
        "type": "Ready",
        "status": "True",
        "reason": "Succeeded",
        "message": "ok",
        "lastTransitionTime": "2024-05-01T12:00:00Z",
        "observedGeneration": 1,
    }
    assert Condition.model_validate(cond.to_dict()) == cond


def test_history_keeps_last_ten_with_increasing_ids() -> None:
    history: list = []
    for n in range(13):
        history = append_history(
            history, revision=f"main@sha1:{n:040d}", result="Succeeded", deployed_at=T0
        )
    assert len(history) == 10
    assert [h.id for h in history] == list(range(3, 13))
    with pytest.raises(ValueError):
        ApplicationStatus(history=[*history, history[0]])


def full_status(**changes: object) -> ApplicationStatus:
    base = ApplicationStatus(
        sync=SyncState(status="OutOfSync", revision="main@sha1:" + "b" * 40),
        health=HealthState(status="Progressing", message="web: 1 of 3 replicas ready"),
        conditions=mark_reconciling([], Reason.SYNCING, "wave 1", generation=3, now=T0),
        observed_generation=3,
        resources=[
            ResourceStatus(
                group="apps",
                version="v1",
                kind="Deployment",
                namespace="web",
                name="web",
                status="OutOfSync",
                drifted_fields=["/spec/replicas"],
            )
        ],
        operation_state=OperationState(
            phase="Running", revision="main@sha1:" + "b" * 40, started_at=T0, plan={"tasks": [1]}
        ),
        reconciled_at=T0,
        message="Deployment web/web: /spec/replicas differs",
    )
    return base.model_copy(update=changes)


def test_status_round_trips_through_kubernetes_json() -> None:
    status = full_status()
    raw = status.to_dict()
    assert raw["sync"] == {"status": "OutOfSync", "revision": "main@sha1:" + "b" * 40}
    assert raw["resources"][0]["driftedFields"] == ["/spec/replicas"]
    assert raw["operationState"]["plan"] == {"tasks": [1]}
    assert raw["reconciledAt"] == "2024-05-01T12:00:00Z"
    assert ApplicationStatus.model_validate(raw) == status


def test_status_patch_none_when_nothing_changed() -> None:
    raw = full_status().to_dict()
    assert status_patch(raw, full_status()) is None


def test_status_patch_ignores_a_reconciled_at_only_change() -> None:
    raw = full_status().to_dict()
    assert status_patch(raw, full_status(reconciled_at=T1)) is None


def test_status_patch_sends_only_what_changed_and_nulls_removed_fields() -> None:
    raw = full_status().to_dict()
    raw["kopf"] = {"progress": {}}
    new = full_status(
        sync=SyncState(status="Synced", revision="main@sha1:" + "b" * 40),
        operation_state=None,
        reconciled_at=T1,
    )
    patch = status_patch(raw, new)
    assert patch == {
        "status": {
            "sync": {"status": "Synced"},
            "operationState": None,
            "reconciledAt": "2024-05-01T12:05:00Z",
        }
    }


def test_status_patch_from_empty_status_sends_everything() -> None:
    status = full_status()
    assert status_patch(None, status) == {"status": status.to_dict()}


def test_merge_patch_rfc7386_cases() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 1, "b": {"c": 2}}) == {
        "b": {"d": None}
    }
    assert merge_patch({"a": [1, 2]}, {"a": [1]}) == {"a": [1]}
    assert merge_patch({"a": {"x": 1}}, {"a": 5}) == {"a": 5}
    assert merge_patch({}, {}) == {}
