"""When to sync: the automation rules, as a pure function of data.

``decide`` takes what the Application asks for (``tether.appspec.SyncSpec``), what the last
reconcile found (sync status, revision, an empty render) and what the status
remembers about the previous operation (``LastOperation``), and returns a
``Decision``. No I/O and no clock: ``now`` is passed in.

The rules, in order:

1. An operation persisted as Running is resumed (unless it was automatic and
   the app is now suspended).
2. A new ``tether.dev/sync`` annotation value is a manual sync; it runs even
   when the app is suspended or not automated.
3. Without ``automated``, or with ``suspend``, nothing else syncs.
4. Synced apps do not sync. An empty render syncs only with ``allowEmpty``.
5. A revision not yet tried syncs. A revision already tried:
   - failed: retried with backoff while ``retry.limit`` allows;
   - succeeded: synced again only with ``selfHeal`` (drift correction),
     otherwise the app stays OutOfSync, as Argo CD does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tether.appspec import SyncSpec
from tether.engine.model import SyncStatus
from tether.sync.state import OperationPhase


class SyncAction(enum.Enum):
    """What a reconcile does about syncing."""

    NONE = "none"
    SYNC = "sync"
    RESUME = "resume"
    WAIT = "wait"  # a retry is due later


class Initiator(enum.StrEnum):
    """Who started an operation (``operationState.initiatedBy``)."""

    AUTOMATED = "automated"
    SELF_HEAL = "selfHeal"
    MANUAL = "manual"


class Hold(enum.Enum):
    """Why an out-of-sync app is not synced, when the status must say so."""

    NONE = "none"
    RETRIES_EXHAUSTED = "retries-exhausted"
    EMPTY_RENDER = "empty-render"


@dataclass(frozen=True)
class LastOperation:
    """What the status remembers of the most recent operation."""

    phase: OperationPhase
    revision: str
    automated: bool
    request: str = ""  # the tether.dev/sync value that started it, if manual
    retry_count: int = 0
    finished_at: float | None = None  # epoch seconds
    initiator: Initiator | None = None  # None when the status does not say


@dataclass(frozen=True)
class Observation:
    sync_status: SyncStatus
    revision: str
    empty: bool = False


@dataclass(frozen=True)
class Decision:
    action: SyncAction
    reason: str
    prune: bool = False
    automated: bool = False
    request: str = ""
    retry_count: int = 0
    wait_seconds: float = 0.0
    initiator: Initiator = Initiator.AUTOMATED
    hold: Hold = Hold.NONE


def decide(
    policy: SyncSpec,
    seen: Observation,
    last: LastOperation | None,
    *,
    sync_request: str = "",
    handled_request: str = "",
    now: float,
) -> Decision:
    """Decide whether this reconcile starts, resumes or skips a sync."""
    if last is not None and last.phase is OperationPhase.RUNNING:
        if last.automated and policy.suspend:
            return Decision(
                SyncAction.NONE, "suspended; the interrupted automatic sync is not resumed"
            )
        return Decision(
            SyncAction.RESUME,
            "resuming the sync interrupted at restart",
            prune=policy.prune,
            automated=last.automated,
            request=last.request,
            retry_count=last.retry_count,
            initiator=last.initiator or _initiator(last),
        )
    if sync_request and sync_request != handled_request:
        return Decision(
            SyncAction.SYNC,
            f"manual sync requested ({sync_request})",
            prune=policy.prune,
            request=sync_request,
            initiator=Initiator.MANUAL,
        )
    if not policy.automated:
        return Decision(SyncAction.NONE, "automated sync is off")
    if policy.suspend:
        return Decision(SyncAction.NONE, "suspended")
    if seen.sync_status is not SyncStatus.OUT_OF_SYNC:
        return Decision(SyncAction.NONE, f"sync status is {seen.sync_status}")
    if seen.empty and not policy.allow_empty:
        return Decision(
            SyncAction.NONE,
            "the source rendered no objects and allowEmpty is false",
            hold=Hold.EMPTY_RENDER,
        )
    if last is None or not last.automated or last.revision != seen.revision:
        if (
            last is not None
            and last.revision == seen.revision
            and last.phase is OperationPhase.SUCCEEDED
        ):
            return _after_success(policy)
        return Decision(SyncAction.SYNC, "new revision", prune=policy.prune, automated=True)
    if last.phase is OperationPhase.SUCCEEDED:
        return _after_success(policy)
    return _retry(policy, last, now)


def _initiator(last: LastOperation) -> Initiator:
    return Initiator.MANUAL if last.request else Initiator.AUTOMATED


def _after_success(policy: SyncSpec) -> Decision:
    if policy.self_heal:
        return Decision(
            SyncAction.SYNC,
            "self-heal: live state drifted",
            prune=policy.prune,
            automated=True,
            initiator=Initiator.SELF_HEAL,
        )
    return Decision(SyncAction.NONE, "already synced this revision once; selfHeal is off")


def _retry(policy: SyncSpec, last: LastOperation, now: float) -> Decision:
    failures = last.retry_count + 1
    if policy.retry.limit >= 0 and last.retry_count >= policy.retry.limit:
        return Decision(
            SyncAction.NONE,
            f"automatic sync of this revision failed {failures} time(s); retry limit reached",
            hold=Hold.RETRIES_EXHAUSTED,
        )
    delay = policy.retry.backoff.delay(failures)
    due = (last.finished_at or now) + delay
    if due > now:
        return Decision(SyncAction.WAIT, "waiting to retry the failed sync", wait_seconds=due - now)
    return Decision(
        SyncAction.SYNC,
        f"retry {failures} of the failed sync",
        prune=policy.prune,
        automated=True,
        retry_count=failures,
    )
