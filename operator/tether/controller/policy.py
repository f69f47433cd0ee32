"""When to sync: the automation rules, as a pure function of data.

``decide`` takes what the Application asks for (``SyncPolicy``), what the last
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

from dataclasses import dataclass
from typing import Literal

from tether.backoff import exponential

Action = Literal["none", "sync", "resume", "wait"]

RUNNING = "Running"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
ERROR = "Error"
TERMINAL_PHASES = frozenset({SUCCEEDED, FAILED, ERROR})


@dataclass(frozen=True)
class Backoff:
    duration: float = 5.0
    factor: float = 2.0
    max_duration: float = 180.0

    def delay(self, failures: int) -> float:
        """Wait before retry ``failures`` (1 = first retry)."""
        return exponential(failures, self.duration, self.factor, self.max_duration)


@dataclass(frozen=True)
class SyncPolicy:
    automated: bool = False
    prune: bool = False
    self_heal: bool = False
    allow_empty: bool = False
    retry_limit: int = 0  # retries after the first failed attempt; < 0 means unlimited
    backoff: Backoff = Backoff()
    suspend: bool = False


@dataclass(frozen=True)
class LastOperation:
    """What the status remembers of the most recent operation."""

    phase: str
    revision: str
    automated: bool
    request: str = ""  # the tether.dev/sync value that started it, if manual
    retry_count: int = 0
    finished_at: float | None = None  # epoch seconds


@dataclass(frozen=True)
class Observation:
    sync_status: str  # Synced, OutOfSync or Unknown
    revision: str
    empty: bool = False


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    prune: bool = False
    automated: bool = False
    request: str = ""
    retry_count: int = 0
    wait_seconds: float = 0.0


def decide(
    policy: SyncPolicy,
    seen: Observation,
    last: LastOperation | None,
    *,
    sync_request: str = "",
    handled_request: str = "",
    now: float,
) -> Decision:
    """Decide whether this reconcile starts, resumes or skips a sync."""
    if last is not None and last.phase == RUNNING:
        if last.automated and policy.suspend:
            return Decision("none", "suspended; the interrupted automatic sync is not resumed")
        return Decision(
            "resume",
            "resuming the sync interrupted at restart",
            prune=policy.prune,
            automated=last.automated,
            request=last.request,
            retry_count=last.retry_count,
        )
    if sync_request and sync_request != handled_request:
        return Decision(
            "sync",
            f"manual sync requested ({sync_request})",
            prune=policy.prune,
            request=sync_request,
        )
    if not policy.automated:
        return Decision("none", "automated sync is off")
    if policy.suspend:
        return Decision("none", "suspended")
    if seen.sync_status != "OutOfSync":
        return Decision("none", f"sync status is {seen.sync_status}")
    if seen.empty and not policy.allow_empty:
        return Decision("none", "the source rendered no objects and allowEmpty is false")
    if last is None or not last.automated or last.revision != seen.revision:
        if last is not None and last.revision == seen.revision and last.phase == SUCCEEDED:
            return _after_success(policy)
        return Decision("sync", "new revision", prune=policy.prune, automated=True)
    if last.phase == SUCCEEDED:
        return _after_success(policy)
    return _retry(policy, last, now)


def _after_success(policy: SyncPolicy) -> Decision:
    if policy.self_heal:
        return Decision("sync", "self-heal: live state drifted", prune=policy.prune, automated=True)
    return Decision("none", "already synced this revision once; selfHeal is off")


def _retry(policy: SyncPolicy, last: LastOperation, now: float) -> Decision:
    failures = last.retry_count + 1
    if policy.retry_limit >= 0 and last.retry_count >= policy.retry_limit:
        return Decision(
            "none",
            f"automatic sync of this revision failed {failures} time(s); retry limit reached",
        )
    delay = policy.backoff.delay(failures)
    due = (last.finished_at or now) + delay
    if due > now:
        return Decision("wait", "waiting to retry the failed sync", wait_seconds=due - now)
    return Decision(
        "sync",
        f"retry {failures} of the failed sync",
        prune=policy.prune,
        automated=True,
        retry_count=failures,
    )
