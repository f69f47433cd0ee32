"""SyncOperation: JSON round trip, resumability and step bookkeeping."""

from __future__ import annotations

import json

import pytest

from tether.identity import ResourceKey
from tether.kube.changeset import Action, Change, ChangeSet
from tether.sync.state import (
    HookOutcome,
    HookRecord,
    OperationPhase,
    StateFormatError,
    StepRecord,
    SyncOperation,
)

CM = ResourceKey("", "ConfigMap", "ns", "cfg")
DEPLOY = ResourceKey("apps", "Deployment", "ns", "web")
CRD = ResourceKey("apiextensions.k8s.io", "CustomResourceDefinition", "", "widgets.example.com")


def record(index: int, label: str, *changes: Change, **kwargs: object) -> StepRecord:
    return StepRecord(index, label, ChangeSet.of(changes), **kwargs)  # type: ignore[arg-type]


def full_state() -> SyncOperation:
    state = SyncOperation.begin("plan-1", "abc123", 3, dry_run=True)
    state = state.step_done(record(0, "PreSync/0/apply#0", Change(CRD, Action.CREATED)))
    state = state.step_done(
        record(
            1,
            "Sync/0/apply#0",
            Change(CM, Action.UNCHANGED),
            Change(DEPLOY, Action.FAILED, "Deployment ns/web: invalid (422 Invalid)", True),
            healthy=False,
            message="health gate timed out",
        )
    )
    return state.finish(OperationPhase.FAILED, "1 object(s) failed")


def test_round_trip_through_json_keeps_everything() -> None:
    state = full_state()
    again = SyncOperation.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert again.changes.counts() == {"created": 1, "unchanged": 1, "failed": 1}


def test_hook_records_round_trip_and_the_latest_record_wins() -> None:
    state = SyncOperation.begin("p", "r", 1)
    state = state.hook_recorded(HookRecord("batch/Job:ns/m", HookOutcome.RUNNING))
    state = state.hook_recorded(HookRecord("batch/Job:ns/m", HookOutcome.FAILED, "BackoffLimit"))
    again = SyncOperation.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state and again.operation_id == state.operation_id
    assert again.hook("batch/Job:ns/m") == HookRecord(
        "batch/Job:ns/m", HookOutcome.FAILED, "BackoffLimit"
    )
    assert again.hook("batch/Job:ns/other") is None


def test_a_state_saved_without_an_operation_id_gets_a_stable_one() -> None:
    saved = SyncOperation.begin("p", "r", 1).to_dict()
    del saved["operationId"]
    first, second = SyncOperation.from_dict(saved), SyncOperation.from_dict(saved)
    assert first.operation_id == second.operation_id and first.operation_id


def test_to_dict_uses_status_field_names_and_omits_empty_optionals() -> None:
    fresh = SyncOperation.begin("p", "r", 2).to_dict()
    assert set(fresh) == {
        "planId",
        "revision",
        "phase",
        "totalSteps",
        "nextStep",
        "steps",
        "startedAt",
        "attempt",
        "operationId",
    }
    assert fresh["phase"] == "Running"
    done = full_state().to_dict()
    assert done["dryRun"] is True and done["finishedAt"] and done["message"]
    assert done["steps"][1]["healthy"] is False
    assert done["steps"][1]["results"][1] == {
        "key": str(DEPLOY),
        "action": "failed",
        "message": "Deployment ns/web: invalid (422 Invalid)",
        "dryRun": True,
    }


def test_from_dict_tolerates_missing_fields() -> None:
    state = SyncOperation.from_dict({"planId": "p"})
    assert state.phase is OperationPhase.RUNNING and state.steps == () and state.next_step == 0
    assert state.started_at  # filled in


@pytest.mark.parametrize(
    "data",
    [
        {"planId": "p", "phase": "Exploded"},
        {"planId": "p", "steps": [{"label": "x"}]},
        {"planId": "p", "steps": [{"index": 0, "results": [{"key": "bad", "action": "created"}]}]},
        {"planId": "p", "steps": [{"index": 0, "results": [{"key": str(CM), "action": "eaten"}]}]},
        {"planId": "p", "steps": "not a list"},
        {"planId": "p", "totalSteps": "three"},
    ],
)
def test_from_dict_rejects_corrupt_states(data: dict[str, object]) -> None:
    with pytest.raises(StateFormatError, match="not a saved operation state"):
        SyncOperation.from_dict(data)


def test_resumable_only_for_the_same_plan_and_while_running() -> None:
    running = SyncOperation.begin("plan-1", "r", 3).step_done(record(0, "a#0"))
    assert running.resumable_for("plan-1")
    assert not running.resumable_for("plan-2")
    for phase in (OperationPhase.SUCCEEDED, OperationPhase.FAILED, OperationPhase.ERROR):
        assert not running.finish(phase).resumable_for("plan-1")


def test_step_done_replaces_a_redone_step_and_advances() -> None:
    state = SyncOperation.begin("p", "r", 3)
    state = state.step_done(record(0, "a#0", Change(CM, Action.FAILED, "x")))
    state = state.step_done(record(0, "a#0", Change(CM, Action.CREATED)))
    assert [s.index for s in state.steps] == [0]
    assert state.changes.counts() == {"created": 1}
    assert state.next_step == 1
    state = state.step_done(record(1, "b#0"))
    assert state.next_step == 2 and len(state.steps) == 2


def test_finish_stamps_time_and_keeps_message_when_none_given() -> None:
    state = SyncOperation.begin("p", "r", 1).step_done(record(0, "a#0", message="gate: slow"))
    done = state.finish(OperationPhase.SUCCEEDED)
    assert done.finished_at and done.message == "gate: slow"
    assert done.phase.done and not OperationPhase.RUNNING.done


def test_retrying_counts_attempts() -> None:
    state = SyncOperation.begin("p", "r", 1).retrying("boom").retrying("again")
    assert state.attempt == 2 and state.message == "again"
