"""The Application status, built by pure functions from typed inputs.

``compared_status`` is the status after a compare (and maybe a sync): sync and
health from the ``Comparison``, the inventory, and the kstatus conditions,
whose Ready verdict ``readiness`` picks by a fixed order of rules (conflict,
failed sync, retry pending, empty render, drift, health; a source outage
overrides). A failed sync is ``PermissionDenied`` when the API server refused one
of its writes. The ``PruneSkipped`` condition (reason ``NamespaceNotEmpty``) says
which Namespaces the last sync did not prune because they still hold objects the
app does not own; it goes once they no longer wait to be pruned.
``problem_status`` is the status when a step before the compare
failed: it keeps the inventory and says why, with a named ``Reason``.
``append_history`` adds a finished sync; ``operation_progress`` turns the engine's
saved operation state into the user-facing ``step`` and ``syncResult``. No I/O and no clock: ``now`` is passed
in; the controller decides and writes. The dicts these return validate
against ``tether.api.application.ApplicationStatus`` (a unit test checks it,
with unknown keys forbidden).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from tether.api import conditions as cond
from tether.api.application import MAX_HISTORY
from tether.api.conditions import Reason
from tether.controller.policy import Decision, Hold, SyncAction
from tether.controller.ports import Comparison, ResourceState, SourceCommit
from tether.controller.redact import REDACTOR
from tether.controller.writeback import WRITE_BACK, Outcome
from tether.engine.model import SyncStatus
from tether.health import HealthStatus
from tether.identity import InvalidObjectError, ResourceKey
from tether.kube.changeset import Action, ChangeReason, reason_of
from tether.sync.state import OperationPhase
from tether.writeback.capture import held_to_status

SHARED_RESOURCE = "SharedResource"
PRUNE_SKIPPED = "PruneSkipped"
_CARRIED = ("operationState", "history", "lastHandledSync", "lastHandledRefresh", "writeBack")


@dataclass(frozen=True)
class Problem:
    """Why this reconcile could not compare: no source, no render, or a failed step."""

    reason: Reason
    message: str
    stalled: bool = False
    waiting: bool = False  # not an error: the Repository has not resolved it yet


class Mark(enum.Enum):
    """Which kstatus verdict the conditions get."""

    READY = "ready"
    RECONCILING = "reconciling"
    NOT_READY = "not-ready"
    STALLED = "stalled"


@dataclass(frozen=True)
class Readiness:
    """The Ready verdict: how to mark the conditions, and ``status.message``."""

    mark: Mark
    reason: str
    text: str
    message: str  # status.message; "" leaves it unset


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


# -- the Ready verdict --------------------------------------------------------------------


def readiness(
    comparison: Comparison,
    decision: Decision,
    *,
    failure: str | None,
    suspended: bool,
    outage: Problem | None,
    failure_reason: Reason = Reason.SYNC_FAILED,
) -> Readiness:
    """The Ready verdict after a compare.

    ``failure`` is the message of the last sync when it failed on this very
    revision (None otherwise), ``failure_reason`` its reason.
    """
    found = _conflict(comparison) or _drift(
        comparison, decision, failure, suspended, failure_reason
    )
    found = found or _health(comparison)
    if outage is not None and not comparison.conflicts:
        text = REDACTOR.redact(outage.message)[:4096]
        drift = comparison.drift_summary()
        return Readiness(Mark.NOT_READY, outage.reason, text, f"{text}; {drift}" if drift else text)
    return found


def _conflict(comparison: Comparison) -> Readiness | None:
    if not comparison.conflicts:
        return None
    first = comparison.conflicts[0]
    return Readiness(Mark.NOT_READY, Reason.SHARED_RESOURCE, first, first)


def _drift(
    comparison: Comparison,
    decision: Decision,
    failure: str | None,
    suspended: bool,
    failure_reason: Reason,
) -> Readiness | None:
    sync_status = comparison.sync_status
    drift = comparison.drift_summary()
    if sync_status is SyncStatus.SYNCED:
        return None
    out = sync_status is SyncStatus.OUT_OF_SYNC
    if out and failure is not None:
        text = f"sync failed: {failure}".strip()
        exhausted = decision.hold is Hold.RETRIES_EXHAUSTED
        return Readiness(Mark.STALLED if exhausted else Mark.NOT_READY, failure_reason, text, text)
    if out and decision.action is SyncAction.WAIT:
        return Readiness(Mark.RECONCILING, Reason.SYNCING, decision.reason, drift)
    if out and comparison.empty and decision.hold is Hold.EMPTY_RENDER:
        return Readiness(Mark.NOT_READY, Reason.EMPTY_RENDER, decision.reason, decision.reason)
    text = drift or f"sync status is {sync_status}"
    if suspended:
        return Readiness(
            Mark.NOT_READY, Reason.SUSPENDED, f"suspended; {text}", f"suspended; {text}"
        )
    return Readiness(Mark.NOT_READY, Reason.OUT_OF_SYNC, text, text)


def _health(comparison: Comparison) -> Readiness:
    health = comparison.health
    if health is HealthStatus.HEALTHY:
        return Readiness(Mark.READY, Reason.SUCCEEDED, "synced and healthy", "")
    text = comparison.health_message or f"health is {health}"
    if health in (HealthStatus.PROGRESSING, HealthStatus.MISSING, HealthStatus.UNKNOWN):
        return Readiness(Mark.RECONCILING, Reason.PROGRESSING, text, text)
    return Readiness(Mark.NOT_READY, str(health), text, text)  # Degraded, Suspended


def marked(
    conditions: list[cond.Condition],
    verdict: Readiness,
    *,
    generation: int | None,
    now: datetime,
) -> list[cond.Condition]:
    mark = {
        Mark.READY: cond.mark_ready,
        Mark.RECONCILING: cond.mark_reconciling,
        Mark.NOT_READY: cond.mark_not_ready,
        Mark.STALLED: cond.mark_stalled,
    }[verdict.mark]
    return mark(conditions, verdict.reason, verdict.text, generation=generation, now=now)


# -- whole statuses -----------------------------------------------------------------------


def compared_status(
    previous: Mapping[str, Any],
    *,
    generation: int | None,
    comparison: Comparison,
    decision: Decision,
    suspended: bool,
    refresh: str,
    now: datetime,
    outage: Problem | None = None,
) -> dict[str, Any]:
    """The Application status after a successful compare (and maybe a sync).

    ``outage`` is a source problem while the last known commit is still used: it
    wins the Ready condition, since the comparison may be against stale Git.
    """
    op = previous.get("operationState") or {}
    failed_here = (
        op.get("phase") in (OperationPhase.FAILED, OperationPhase.ERROR)
        and op.get("revision") == comparison.revision
    )
    verdict = readiness(
        comparison,
        decision,
        failure=str(op.get("message") or "") if failed_here else None,
        suspended=suspended,
        outage=outage,
        failure_reason=sync_failure_reason(op),
    )
    conditions = conditions_of(previous)
    conditions = _prune_skipped(conditions, op, comparison, generation=generation, now=now)
    if comparison.conflicts:
        conditions = cond.set_condition(
            conditions,
            SHARED_RESOURCE,
            "True",
            Reason.SHARED_RESOURCE,
            "; ".join(comparison.conflicts)[:4096],
            observed_generation=generation,
            now=now,
        )
    else:
        conditions = cond.remove_condition(conditions, SHARED_RESOURCE)
    conditions = marked(conditions, verdict, generation=generation, now=now)
    message = verdict.message if verdict.mark is not Mark.READY else comparison.drift_summary()
    health: dict[str, Any] = {"status": str(comparison.health)}
    if comparison.health_message:
        health["message"] = comparison.health_message[:1024]
    status: dict[str, Any] = {
        **{k: v for k, v in previous.items() if k in _CARRIED},
        "sync": comparison.sync_state,
        "health": health,
        "conditions": [c.to_dict() for c in conditions],
        "resources": [resource_entry(r) for r in comparison.resources],
        "reconciledAt": stamp(now),
    }
    if generation is not None:
        status["observedGeneration"] = generation
    if message:
        status["message"] = REDACTOR.redact(message)[:1024]
    if refresh:
        status["lastHandledRefresh"] = refresh
    return status


def sync_failure_reason(op: Mapping[str, Any]) -> Reason:
    """``PermissionDenied`` when the API server refused one of the operation's writes."""
    refused = any(reason_of(r.get("reason")) is ChangeReason.FORBIDDEN for r in _results(op))
    return Reason.PERMISSION_DENIED if refused else Reason.SYNC_FAILED


def skipped_namespace_prunes(
    op: Mapping[str, Any], comparison: Comparison
) -> list[tuple[ResourceKey, str]]:
    """The Namespaces the last operation did not prune because others' objects are
    inside, and the message naming those objects; only those still waiting to be pruned
    (gone from the cluster, back in Git, or pruned since: the situation is over)."""
    waiting = {
        (r.group, r.kind, r.namespace or "", r.name)
        for r in comparison.resources
        if r.requires_pruning
    }
    found: list[tuple[ResourceKey, str]] = []
    for result in _results(op):
        if reason_of(result.get("reason")) is not ChangeReason.NAMESPACE_NOT_EMPTY:
            continue
        try:
            key = ResourceKey.parse(str(result.get("key") or ""))
        except InvalidObjectError:
            continue
        if (key.group, key.kind, key.namespace, key.name) in waiting:
            found.append((key, str(result.get("message") or "")))
    return found


def _prune_skipped(
    conditions: list[cond.Condition],
    op: Mapping[str, Any],
    comparison: Comparison,
    *,
    generation: int | None,
    now: datetime,
) -> list[cond.Condition]:
    """``PruneSkipped`` (True, ``NamespaceNotEmpty``) while a skipped Namespace waits."""
    skipped = skipped_namespace_prunes(op, comparison)
    if not skipped:
        return cond.remove_condition(conditions, PRUNE_SKIPPED)
    message = "; ".join(text or f"{key.label} not pruned" for key, text in skipped)
    return cond.set_condition(
        conditions,
        PRUNE_SKIPPED,
        "True",
        Reason.NAMESPACE_NOT_EMPTY,
        REDACTOR.redact(message)[:4096],
        observed_generation=generation,
        now=now,
    )


def _results(op: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every per-object result the operation's saved plan holds."""
    plan = op.get("plan")
    if not isinstance(plan, Mapping):
        return []
    return [
        r
        for s in plan.get("steps") or ()
        if isinstance(s, Mapping)
        for r in s.get("results") or ()
        if isinstance(r, Mapping)
    ]


def problem_status(
    previous: Mapping[str, Any],
    *,
    generation: int | None,
    problem: Problem,
    resolved: SourceCommit | None,
    refresh: str,
    now: datetime,
) -> dict[str, Any]:
    """The status when a step before or during the compare failed: keep the inventory, say why."""
    message = REDACTOR.redact(problem.message)[:4096]
    mark = Mark.NOT_READY
    if problem.waiting:
        mark = Mark.RECONCILING
    elif problem.stalled:
        mark = Mark.STALLED
    conditions = marked(
        conditions_of(previous),
        Readiness(mark, problem.reason, message, message),
        generation=generation,
        now=now,
    )
    status = {k: v for k, v in previous.items() if k != "conditions"}
    sync = dict(previous.get("sync") or {"status": str(SyncStatus.UNKNOWN)})
    if not problem.waiting:
        sync["status"] = str(SyncStatus.UNKNOWN)
    if resolved is not None:
        sync["revision"] = resolved.display
        if resolved.parts:
            sync["revisions"] = [part.display for part in resolved.parts]
    status.update(
        sync=sync,
        health=dict(previous.get("health") or {"status": str(HealthStatus.UNKNOWN)}),
        conditions=[c.to_dict() for c in conditions],
        message=message[:1024],
        reconciledAt=stamp(now),
    )
    if generation is not None:
        status["observedGeneration"] = generation
    if refresh:
        status["lastHandledRefresh"] = refresh
    return status


def with_write_back(
    previous: Mapping[str, Any],
    outcome: Outcome,
    *,
    generation: int | None,
    now: datetime,
) -> dict[str, Any]:
    """The status with ``writeBack`` and the ``WriteBack`` condition from one write-back run.

    ``lastCommit`` and ``lastPushTime`` change only with a push; the condition only
    when the run has a verdict. Messages are redacted; pending entries hold no value.
    """
    status = dict(previous)
    block = dict(previous.get("writeBack") or {})
    if outcome.pushed is not None:
        commit, branch, when = outcome.pushed
        block.update(
            lastCommit=commit,
            branch=branch,
            lastPushTime=stamp(datetime.fromtimestamp(when, UTC)),
        )
    block["pending"] = list(outcome.pending[:64])
    # What a restarted operator holds again before any sync (no values; see capture.Held).
    block["held"] = held_to_status(outcome.held[:128])
    status["writeBack"] = block
    if outcome.verdict is not None:
        verdict = outcome.verdict
        status["conditions"] = [
            c.to_dict()
            for c in cond.set_condition(
                conditions_of(previous),
                WRITE_BACK,
                verdict.status,
                str(verdict.reason),
                REDACTOR.redact(verdict.message)[:4096],
                observed_generation=generation,
                now=now,
            )
        ]
    return status


def without_write_back(previous: Mapping[str, Any]) -> dict[str, Any]:
    """The status of an app whose writeBack was removed: no block, no condition."""
    if "writeBack" not in previous and not any(
        c.type == WRITE_BACK for c in conditions_of(previous)
    ):
        return dict(previous)
    status = {k: v for k, v in previous.items() if k != "writeBack"}
    kept = cond.remove_condition(conditions_of(previous), WRITE_BACK)
    status["conditions"] = [c.to_dict() for c in kept]
    return status


def write_back_reason(previous: Mapping[str, Any]) -> str | None:
    """The ``WriteBack`` condition's current reason, if any."""
    found = cond.find_condition(conditions_of(previous), WRITE_BACK)
    return found.reason if found is not None else None


def append_history(
    history: Sequence[Mapping[str, Any]],
    *,
    revision: str,
    result: OperationPhase,
    started: str,
    finished: str,
    message: str,
) -> list[dict[str, Any]]:
    """The history with one more entry, the last ``MAX_HISTORY`` kept, ids increasing."""
    next_id = max((int(h.get("id", -1)) for h in history), default=-1) + 1
    entry: dict[str, Any] = {
        "id": next_id,
        "revision": revision,
        "deployedAt": finished,
        "result": str(result),
    }
    if started:
        entry["startedAt"] = started
    if message:
        entry["message"] = message[:1024]
    return [*(dict(h) for h in history), entry][-MAX_HISTORY:]


def resource_entry(r: ResourceState) -> dict[str, Any]:
    """One ``status.resources[]`` item."""
    item: dict[str, Any] = {"group": r.group, "version": r.version, "kind": r.kind, "name": r.name}
    if r.namespace:
        item["namespace"] = r.namespace
    item["status"] = str(r.status)
    if r.health:
        health = {"status": str(r.health)}
        if r.health_message:
            health["message"] = r.health_message
        item["health"] = health
    item["wave"] = r.wave
    if r.requires_pruning:
        item["requiresPruning"] = True
    if r.hook:
        item["hook"] = True
    if r.drifted_fields:
        item["driftedFields"] = list(r.drifted_fields)
    if r.message:
        item["message"] = r.message[:1024]
    return item


def conditions_of(previous: Mapping[str, Any]) -> list[cond.Condition]:
    out = []
    for raw in previous.get("conditions") or ():
        try:
            out.append(cond.Condition.model_validate(raw))
        except ValidationError:
            continue
    return out


# The per-object outcome of a sync, as ``syncResult.resources[].status`` names it.
_RESULT_STATUS: Mapping[Action, str] = {
    Action.CREATED: "Synced",
    Action.CONFIGURED: "Synced",
    Action.ADOPTED: "Synced",
    Action.UNCHANGED: "Synced",
    Action.PRUNED: "Pruned",
    Action.FAILED: "SyncFailed",
    Action.SKIPPED: "PruneSkipped",
}


def operation_progress(plan: Mapping[str, Any], revision: str) -> dict[str, Any]:
    """``step`` and ``syncResult`` for ``operationState``, from the engine's saved state.

    ``plan`` is what ``SyncOperation.to_dict`` wrote: finished steps with their
    per-object results. A skipped prune (``Prune=false``, a Namespace that still holds
    others' objects) shows here with the reason, where ``kubectl get -o yaml`` finds it.
    """
    steps = [s for s in plan.get("steps") or () if isinstance(s, Mapping)]
    done, total = int(plan.get("nextStep") or 0), int(plan.get("totalSteps") or 0)
    last = str(steps[-1].get("label") or "") if steps else ""
    step = f"{min(done, total)}/{total} steps done" + (f", last {last}" if last else "")
    resources = [
        entry
        for s in steps
        for r in s.get("results") or ()
        if isinstance(r, Mapping) and (entry := _resource_result(r)) is not None
    ]
    return {"step": step, "syncResult": {"revision": revision, "resources": resources}}


def _resource_result(result: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        key = ResourceKey.parse(str(result.get("key") or ""))
        action = Action(str(result.get("action") or ""))
    except (InvalidObjectError, ValueError):
        return None  # a state written by another version: show what can be read
    entry: dict[str, Any] = {
        "group": key.group,
        "kind": key.kind,
        "name": key.name,
        "status": _RESULT_STATUS[action],
        "action": action.value,
    }
    if key.namespace:
        entry["namespace"] = key.namespace
    if result.get("message"):
        entry["message"] = REDACTOR.redact(str(result["message"]))[:1024]
    return entry
