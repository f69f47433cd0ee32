"""The automation rules, table-driven."""

from __future__ import annotations

import pytest

from tether.appspec import Backoff, Retry
from tether.appspec import SyncSpec as SyncPolicy
from tether.controller.policy import (
    Decision,
    LastOperation,
    Observation,
    SyncAction,
    decide,
)
from tether.engine.model import SyncStatus
from tether.sync.state import OperationPhase

AUTO = SyncPolicy(automated=True, prune=True)
HEAL = SyncPolicy(automated=True, self_heal=True)
RETRY = SyncPolicy(automated=True, retry=Retry(2, Backoff(10, 2, 60)))
OUT = Observation(SyncStatus("OutOfSync"), "main@sha1:b")
NOW = 1000.0


def op(
    phase: str,
    revision: str = "main@sha1:b",
    *,
    automated: bool = True,
    retries: int = 0,
    at: float = 990,
) -> LastOperation:
    return LastOperation(
        OperationPhase(phase), revision, automated, retry_count=retries, finished_at=at
    )


CASES = [
    ("synced apps never sync", AUTO, Observation(SyncStatus("Synced"), "r"), None, "", "", "none"),
    ("manual mode does nothing on drift", SyncPolicy(), OUT, None, "", "", "none"),
    ("new revision syncs", AUTO, OUT, op("Succeeded", "main@sha1:a"), "", "", "sync"),
    ("first sight syncs", AUTO, OUT, None, "", "", "sync"),
    ("same revision, no selfHeal: once only", AUTO, OUT, op("Succeeded"), "", "", "none"),
    (
        "same revision after a manual sync, no selfHeal",
        AUTO,
        OUT,
        op("Succeeded", automated=False),
        "",
        "",
        "none",
    ),
    ("same revision with selfHeal resyncs", HEAL, OUT, op("Succeeded"), "", "", "sync"),
    (
        "suspended: no automatic sync",
        SyncPolicy(automated=True, suspend=True),
        OUT,
        None,
        "",
        "",
        "none",
    ),
    (
        "suspended: a manual request still syncs",
        SyncPolicy(automated=True, suspend=True),
        OUT,
        None,
        "r1",
        "",
        "sync",
    ),
    ("manual request already handled", SyncPolicy(), OUT, None, "r1", "r1", "none"),
    (
        "manual request on a synced app still runs",
        SyncPolicy(),
        Observation(SyncStatus("Synced"), "r"),
        None,
        "r2",
        "r1",
        "sync",
    ),
    (
        "empty render refused",
        AUTO,
        Observation(SyncStatus("OutOfSync"), "r", empty=True),
        None,
        "",
        "",
        "none",
    ),
    (
        "empty render allowed",
        SyncPolicy(automated=True, allow_empty=True),
        Observation(SyncStatus("OutOfSync"), "r", empty=True),
        None,
        "",
        "",
        "sync",
    ),
    ("failed, no retry policy: stop", AUTO, OUT, op("Failed"), "", "", "none"),
    ("failed, retry not due: wait", RETRY, OUT, op("Failed", at=995), "", "", "wait"),
    ("failed, retry due", RETRY, OUT, op("Failed", at=900), "", "", "sync"),
    ("failed, retries used up", RETRY, OUT, op("Failed", retries=2, at=0), "", "", "none"),
    (
        "running is resumed",
        AUTO,
        Observation(SyncStatus("Synced"), "r"),
        op("Running"),
        "",
        "",
        "resume",
    ),
    (
        "running automatic op not resumed when suspended",
        SyncPolicy(automated=True, suspend=True),
        OUT,
        op("Running"),
        "",
        "",
        "none",
    ),
    (
        "running manual op resumed when suspended",
        SyncPolicy(automated=True, suspend=True),
        OUT,
        op("Running", automated=False),
        "",
        "",
        "resume",
    ),
    (
        "unknown sync status does not sync",
        AUTO,
        Observation(SyncStatus("Unknown"), "r"),
        None,
        "",
        "",
        "none",
    ),
]


@pytest.mark.parametrize(
    ("name", "pol", "seen", "last", "req", "handled", "action"), CASES, ids=[c[0] for c in CASES]
)
def test_decide(
    name: str,
    pol: SyncPolicy,
    seen: Observation,
    last: LastOperation | None,
    req: str,
    handled: str,
    action: str,
) -> None:
    decision = decide(pol, seen, last, sync_request=req, handled_request=handled, now=NOW)
    assert decision.action is SyncAction(action), decision.reason


def test_retry_waits_per_backoff_and_counts() -> None:
    d: Decision = decide(RETRY, OUT, op("Failed", retries=1, at=995), now=NOW)
    assert d.action is SyncAction.WAIT and d.wait_seconds == pytest.approx(15)
    d = decide(RETRY, OUT, op("Failed", retries=1, at=900), now=NOW)
    assert d.action is SyncAction.SYNC and d.retry_count == 2


def test_prune_follows_policy_and_manual_carries_request() -> None:
    d = decide(AUTO, OUT, None, now=NOW)
    assert d.prune and d.automated
    d = decide(SyncPolicy(), OUT, None, sync_request="x", now=NOW)
    assert d.request == "x" and not d.automated and not d.prune
