"""Repository and Application reconciles against in-memory ports."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fakes import Harness, drifted, synced

from tether.controller import triggers
from tether.controller.application import FINALIZER, REFRESH_ANNOTATION, SYNC_ANNOTATION
from tether.controller.runtime import repo_reasons as runtime_repo_reasons
from tether.engine.model import SyncStatus
from tether.git import errors as gerr
from tether.sync.state import OperationPhase

MAIN = "refs/heads/main@sha1:" + "a" * 40


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or ()}


async def ready_harness(**app_kwargs: Any) -> tuple[Harness, tuple[str, str]]:
    h = Harness()
    repo = h.add_repo()
    key = h.add_app(**app_kwargs)
    await h.repos.reconcile(repo, frozenset({triggers.CREATED}))
    return h, key


# -- Repository ------------------------------------------------------------------------


async def test_repository_resolves_the_revisions_apps_follow_and_wakes_them() -> None:
    h = Harness()
    repo = h.add_repo()
    h.add_app("a", revision="main")
    h.git.commits["v2"] = "b" * 40
    h.add_app("b", revision="v2")
    await h.repos.reconcile(repo, frozenset())
    status = h.runtime.repos.get(repo)["status"]
    assert {r["revision"] for r in status["revisions"]} == {"main", "v2"}
    assert conditions(status)["Ready"]["status"] == "True"
    assert status["observedGeneration"] == 1 and status["lastFetchTime"]
    assert {k for k, _ in h.woken_apps} == {("ns", "a"), ("ns", "b")}
    # nothing moved: no status write, no wake-ups
    h.woken_apps.clear()
    writes = len(h.repo_api.status_patches)
    await h.repos.reconcile(repo, frozenset({triggers.INTERVAL}))
    assert len(h.repo_api.status_patches) == writes and h.woken_apps == []
    # main moves: only the app on main is told, at once
    h.git.commits["main"] = "c" * 40
    await h.repos.reconcile(repo, frozenset({triggers.INTERVAL}))
    assert h.woken_apps == [(("ns", "a"), triggers.REVISION_MOVED)]
    assert h.repos.state(repo).lookup("main").commit == "c" * 40


async def test_repository_auth_failure_is_stalled_and_never_shows_the_secret() -> None:
    h = Harness()
    repo = h.add_repo(secret="creds")
    h.add_app()
    h.secrets.data[("ns", "creds")] = {"username": b"bob", "password": b"very-secret-pw-123"}
    h.git.error = gerr.AuthenticationError(
        "authentication failed for https://bob:very-secret-pw-123@git.example/r.git"
    )
    await h.repos.reconcile(repo, frozenset())
    status = h.runtime.repos.get(repo)["status"]
    cond = conditions(status)
    assert cond["Stalled"]["reason"] == "AuthenticationFailed"
    assert cond["Ready"]["status"] == "False"
    assert "very-secret-pw-123" not in repr(status)
    assert all("very-secret-pw-123" not in e["message"] for e in h.sink.events)
    # the app that follows it reports the problem without syncing
    await h.apps.reconcile(("ns", "web"), frozenset())
    app_status = h.app(("ns", "web"))["status"]
    assert conditions(app_status)["Stalled"]["reason"] == "AuthenticationFailed"
    assert "very-secret-pw-123" not in repr(app_status)
    assert h.engine.syncs == []


async def test_secret_with_misnamed_keys_names_them_never_the_values() -> None:
    h = Harness()
    repo = h.add_repo(secret="creds")
    h.secrets.data[("ns", "creds")] = {"user": b"bob", "pass": b"very-secret-pw-123"}
    await h.repos.reconcile(repo, frozenset())
    stalled = conditions(h.runtime.repos.get(repo)["status"])["Stalled"]
    assert stalled["reason"] == "AuthenticationFailed"
    assert "Secret ns/creds" in stalled["message"] and "found: pass, user" in stalled["message"]
    assert "expected username and password" in stalled["message"]
    assert "very-secret-pw-123" not in stalled["message"] and "bob" not in stalled["message"]
    assert h.git.calls == [], "no anonymous attempt with a misnamed Secret"


async def test_repository_proves_credentials_within_its_interval_and_at_once_on_refresh() -> None:
    h = Harness()
    repo = h.add_repo()
    h.add_app()
    await h.repos.reconcile(repo, frozenset({triggers.CREATED}))
    assert h.git.max_ages == [60.0], "a cached commit may be served within the interval"
    old = h.runtime.repos.get(repo)
    body = {**old, "metadata": {**old["metadata"], "annotations": {REFRESH_ANNOTATION: "r1"}}}
    assert runtime_repo_reasons("MODIFIED", old, body) == {triggers.REFRESH}
    h.runtime.on_repo_event("MODIFIED", body)
    queued, reasons = await asyncio.wait_for(h.runtime.repo_queue.get(), 1)
    assert queued == repo and triggers.REFRESH in reasons
    h.runtime.repo_queue.done(repo)
    await h.repos.reconcile(repo, reasons)
    assert h.git.max_ages[-1] == 0.0, "a refresh proves the credentials again, now"
    assert h.runtime.repos.get(repo)["status"]["lastHandledRefresh"] == "r1"
    # Handled: the next interval tick is back to the interval, and the value stays.
    await h.repos.reconcile(repo, frozenset({triggers.INTERVAL}))
    assert h.git.max_ages[-1] == 60.0
    assert h.runtime.repos.get(repo)["status"]["lastHandledRefresh"] == "r1"


async def test_repository_backoff_survives_endless_failures() -> None:
    h = Harness()
    repo = h.add_repo()
    h.add_app()
    h.git.error = gerr.NetworkUnreachableError("connection refused")
    h.repos._failures[repo] = 5000  # as after hours of 1ns-interval failures
    await h.repos.reconcile(repo, frozenset({triggers.INTERVAL}))
    delay = h.runtime.repo_queue.scheduled_in(repo)
    assert delay is not None and 0 < delay <= 60.0


async def test_missing_secret_is_reported_by_name() -> None:
    h = Harness()
    repo = h.add_repo(secret="nope")
    await h.repos.reconcile(repo, frozenset())
    cond = conditions(h.runtime.repos.get(repo)["status"])
    assert cond["Stalled"]["reason"] == "SecretNotFound" and "ns/nope" in cond["Stalled"]["message"]


async def test_transient_fetch_failure_keeps_the_last_good_commit() -> None:
    h, key = await ready_harness(automated={"prune": True})
    h.git.error = gerr.NetworkUnreachableError(
        "connection refused", url="https://git.example/r.git"
    )
    await h.repos.reconcile(("ns", "repo"), frozenset({triggers.INTERVAL}))
    repo_status = h.runtime.repos.get(("ns", "repo"))["status"]
    assert conditions(repo_status)["Ready"]["reason"] == "FetchFailed"
    assert h.repos.state(("ns", "repo")).lookup("main") is not None
    assert (key, triggers.DEPENDENCY) in h.woken_apps


async def test_an_outage_is_logged_when_it_starts_changes_and_ends_not_per_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h, key = await ready_harness(automated={"prune": True})
    repo = ("ns", "repo")
    outages = [
        gerr.GitTimeoutError("no answer within 60s", url="git://git.example/r.git", ref="main"),
        gerr.NetworkUnreachableError("cannot reach the server: Connection refused"),
    ]
    caplog.set_level(logging.INFO, logger="tether.controller.repository")
    for error in (outages[0], outages[0], outages[1], outages[1], outages[1], None):
        h.git.error = error
        await h.repos.reconcile(repo, frozenset({triggers.INTERVAL}))
        ready = conditions(h.runtime.repos.get(repo)["status"])["Ready"]
        assert (ready["status"], ready["reason"]) == (
            ("False", "FetchFailed") if error else ("True", "Succeeded")
        )
        if error is not None:  # the app keeps its last good commit through the outage
            assert h.repos.state(repo).lookup("main") is not None
    lines = [r.getMessage() for r in caplog.records if "Repository ns/repo" in r.getMessage()]
    assert lines == [
        "Repository ns/repo: FetchFailed: no answer within 60s (url=git://git.example/r.git, ref=main)",
        "Repository ns/repo: FetchFailed: cannot reach the server: Connection refused",
        "Repository ns/repo: fetching works again",
    ]
    assert key in {app for app, _ in h.woken_apps}


async def test_unknown_ref_names_the_revision() -> None:
    h = Harness()
    repo = h.add_repo()
    h.add_app(revision="nope")
    await h.repos.reconcile(repo, frozenset())
    cond = conditions(h.runtime.repos.get(repo)["status"])
    assert cond["Ready"]["reason"] == "RefNotFound" and "nope" in cond["Ready"]["message"]


# -- Application ----------------------------------------------------------------------


async def test_first_reconcile_adds_finalizer_and_writes_one_status() -> None:
    h, key = await ready_harness()
    await h.apps.reconcile(key, frozenset({triggers.CREATED}))
    body = h.app(key)
    assert FINALIZER in body["metadata"]["finalizers"]
    assert len(h.app_api.status_patches) == 1
    status = body["status"]
    assert status["sync"] == {"status": "Synced", "revision": MAIN}
    assert status["health"]["status"] == "Healthy"
    assert conditions(status)["Ready"]["status"] == "True"
    assert status["observedGeneration"] == 1
    assert status["resources"][0]["kind"] == "ConfigMap"
    # an idle second pass writes nothing at all
    await h.apps.reconcile(key, frozenset({triggers.INTERVAL}))
    assert len(h.app_api.status_patches) == 1
    assert len(h.app_api.meta_patches) == 1


async def test_app_waits_for_an_unresolved_revision_and_asks_the_repository() -> None:
    h = Harness()
    h.add_repo()
    key = h.add_app()
    await h.apps.reconcile(key, frozenset())
    status = h.app(key)["status"]
    assert conditions(status)["Reconciling"]["status"] == "True"
    assert (("ns", "repo"), triggers.DEPENDENCY) in h.woken_repos


async def test_missing_repository_is_reported() -> None:
    h = Harness()
    key = h.add_app()
    await h.apps.reconcile(key, frozenset())
    ready = conditions(h.app(key)["status"])["Ready"]
    assert ready["reason"] == "SourceUnavailable" and "ns/repo" in ready["message"]
    assert "SourceUnavailable" in h.event_reasons()


async def test_automated_sync_once_per_revision_without_self_heal() -> None:
    h, key = await ready_harness(automated={"prune": True})
    h.engine.comparison = drifted
    h.engine.after_sync = drifted  # the live edit comes straight back
    await h.apps.reconcile(key, frozenset())
    assert len(h.engine.syncs) == 1 and h.engine.syncs[0]["prune"] is True
    await h.apps.reconcile(key, frozenset({triggers.DRIFT}))
    assert len(h.engine.syncs) == 1  # no second attempt on the same revision
    status = h.app(key)["status"]
    assert status["sync"]["status"] == "OutOfSync"
    assert status["resources"][0]["driftedFields"] == ["/data/key"]
    assert "/data/key" in status["message"]
    assert conditions(status)["Ready"]["reason"] == "OutOfSync"
    assert [e["result"] for e in status["history"]] == ["Succeeded"]
    assert {"SyncStarted", "SyncSucceeded"} <= set(h.event_reasons())


async def test_self_heal_syncs_again_on_drift() -> None:
    h, key = await ready_harness(automated={"selfHeal": True})
    h.engine.comparison = drifted
    await h.apps.reconcile(key, frozenset())
    h.engine.comparison = drifted
    await h.apps.reconcile(key, frozenset({triggers.DRIFT}))
    assert len(h.engine.syncs) == 2
    assert h.app(key)["status"]["sync"]["status"] == "Synced"


async def test_operation_state_is_persisted_per_step_and_history_capped() -> None:
    h, key = await ready_harness(automated={"selfHeal": True})
    for _ in range(12):
        h.engine.comparison = drifted
        await h.apps.reconcile(key, frozenset({triggers.DRIFT}))
    status = h.app(key)["status"]
    assert len(status["history"]) == 10
    assert [e["id"] for e in status["history"]] == list(range(2, 12))
    running = [
        p
        for _, p in h.app_api.status_patches
        if (p.get("operationState") or {}).get("phase") == "Running"
    ]
    assert running, "the Running operation state must be written before the sync finishes"
    assert status["operationState"]["phase"] == "Succeeded"


async def _persist_to_the_end(
    engine: Any, app: Any, resolved: Any, desired: Any, *, prune: bool, resume: Any, persist: Any
) -> Any:
    """An engine sync that saves one Running step, then the finished operation (as
    the executor does after its last step)."""
    from tether.controller.ports import SyncOutcome

    await persist({"planId": "p1", "phase": "Running", "nextStep": 1})
    finished = {"planId": "p1", "phase": "Succeeded", "nextStep": 1}
    await persist(finished)
    engine.comparison = engine.after_sync or engine.comparison
    return SyncOutcome(OperationPhase.SUCCEEDED, "done", finished)


async def test_a_finished_operation_is_written_once_with_the_comparison() -> None:
    h, key = await ready_harness(automated={"selfHeal": True})
    await h.apps.reconcile(key, frozenset())  # first pass: finalizer, status
    h.engine.comparison = drifted
    h.engine.sync = lambda *a, **k: _persist_to_the_end(h.engine, *a, **k)  # type: ignore[method-assign]
    before = len(h.app_api.status_patches)
    await h.apps.reconcile(key, frozenset({triggers.DRIFT}))
    patches = [p for _, p in h.app_api.status_patches[before:]]
    phases = [(p.get("operationState") or {}).get("phase") for p in patches]
    # the operation starts, its step is saved, and the end rides with the new sync status
    assert phases == ["Running", None, "Succeeded"]
    assert [e["result"] for e in patches[-1]["history"]] == ["Succeeded"]
    assert h.app(key)["status"]["sync"]["status"] == "Synced"


async def test_a_finished_operation_is_written_when_the_comparison_after_it_fails() -> None:
    h, key = await ready_harness(automated={"selfHeal": True})
    await h.apps.reconcile(key, frozenset())
    h.engine.comparison = drifted
    h.engine.sync = lambda *a, **k: _persist_to_the_end(h.engine, *a, **k)  # type: ignore[method-assign]

    def failing(_revision: str) -> Any:
        raise RuntimeError("the API server went away")

    h.engine.after_sync = failing
    await h.apps.reconcile(key, frozenset({triggers.DRIFT}))
    status = h.app(key)["status"]
    assert status["operationState"]["phase"] == "Succeeded"
    assert [e["result"] for e in status["history"]] == ["Succeeded"]
    assert conditions(status)["Ready"]["reason"] == "CompareFailed"


async def test_restart_resumes_a_running_operation() -> None:
    h, key = await ready_harness(automated={"prune": True})
    h.edit_app(
        key,
        lambda b: b.__setitem__(
            "status",
            {
                "operationState": {
                    "phase": "Running",
                    "revision": MAIN,
                    "initiatedBy": "automated",
                    "startedAt": "2024-01-01T00:00:00Z",
                    "plan": {"planId": "p1", "nextStep": 2},
                }
            },
        ),
    )
    await h.apps.reconcile(key, frozenset({triggers.RESUMED}))
    assert h.engine.syncs[0]["resume"] == {"planId": "p1", "nextStep": 2}
    op = h.app(key)["status"]["operationState"]
    assert op["phase"] == "Succeeded" and op["startedAt"] == "2024-01-01T00:00:00Z"


async def test_failed_sync_retries_with_backoff_then_stalls() -> None:
    h, key = await ready_harness(
        automated={},
        syncPolicy={"automated": {}, "retry": {"limit": 1, "backoff": {"duration": "10s"}}},
    )
    h.engine.comparison = drifted
    h.engine.sync_phase = OperationPhase.FAILED
    await h.apps.reconcile(key, frozenset())
    assert len(h.engine.syncs) == 1
    assert conditions(h.app(key)["status"])["Ready"]["reason"] == "SyncFailed"
    assert "SyncFailed" in h.event_reasons()
    await h.apps.reconcile(key, frozenset())  # too early
    assert len(h.engine.syncs) == 1
    h.now += 3600
    await h.apps.reconcile(key, frozenset({triggers.RETRY}))
    assert len(h.engine.syncs) == 2
    await h.apps.reconcile(key, frozenset({triggers.RETRY}))
    assert len(h.engine.syncs) == 2
    assert conditions(h.app(key)["status"])["Stalled"]["reason"] == "SyncFailed"


async def test_render_failure_never_syncs_and_keeps_the_inventory() -> None:
    h, key = await ready_harness(automated={"prune": True})
    await h.apps.reconcile(key, frozenset())
    before = h.app(key)["status"]["resources"]
    h.engine.render_error = ValueError("app/bad.yaml: line 3: mapping values are not allowed here")
    h.git.commits["main"] = "d" * 40
    await h.repos.reconcile(("ns", "repo"), frozenset())
    await h.apps.reconcile(key, frozenset({triggers.REVISION_MOVED}))
    status = h.app(key)["status"]
    ready = conditions(status)["Ready"]
    assert ready["status"] == "False" and ready["reason"] == "RenderFailed"
    assert "app/bad.yaml" in ready["message"]
    assert status["resources"] == before
    assert h.engine.syncs == []


async def test_manual_sync_annotation_runs_once_even_when_suspended() -> None:
    h, key = await ready_harness(suspend=True, automated={"prune": True})
    h.engine.comparison = drifted
    await h.apps.reconcile(key, frozenset())
    assert h.engine.syncs == []
    assert conditions(h.app(key)["status"])["Ready"]["reason"] == "Suspended"
    h.edit_app(
        key,
        lambda b: b["metadata"].setdefault("annotations", {}).__setitem__(SYNC_ANNOTATION, "req-1"),
    )
    await h.apps.reconcile(key, frozenset({triggers.SYNC}))
    assert len(h.engine.syncs) == 1
    status = h.app(key)["status"]
    assert status["lastHandledSync"] == "req-1"
    assert status["operationState"]["initiatedBy"] == "manual"
    await h.apps.reconcile(key, frozenset())
    assert len(h.engine.syncs) == 1


async def test_refresh_annotation_refetches_and_is_acknowledged() -> None:
    h, key = await ready_harness()
    await h.apps.reconcile(key, frozenset())
    h.edit_app(
        key,
        lambda b: b["metadata"].setdefault("annotations", {}).__setitem__(REFRESH_ANNOTATION, "r1"),
    )
    await h.apps.reconcile(key, frozenset({triggers.REFRESH}))
    assert (("ns", "repo"), triggers.REFRESH) in h.woken_repos
    assert h.app(key)["status"]["lastHandledRefresh"] == "r1"


async def test_shared_resource_conflict_is_a_condition_and_an_event() -> None:
    from tether.controller.ports import Comparison, ResourceState

    h, key = await ready_harness(automated={"prune": True})

    def conflict(rev: str) -> Comparison:
        return Comparison(
            rev,
            (ResourceState("ConfigMap", "cm", namespace="ns", status=SyncStatus.UNKNOWN),),
            conflicts=("ConfigMap ns/cm owned by another app: ns/other",),
        )

    h.engine.comparison = conflict
    await h.apps.reconcile(key, frozenset())
    status = h.app(key)["status"]
    assert conditions(status)["SharedResource"]["status"] == "True"
    assert conditions(status)["Ready"]["reason"] == "SharedResource"
    assert "SharedResource" in h.event_reasons()
    assert h.engine.syncs == []


async def test_deletion_orphan_by_default_and_delete_with_prune() -> None:
    for automated, cascade in (({"prune": False}, False), ({"prune": True}, True)):
        h, key = await ready_harness(automated=automated)
        await h.apps.reconcile(key, frozenset())
        h.edit_app(
            key, lambda b: b["metadata"].__setitem__("deletionTimestamp", "2024-01-01T00:00:00Z")
        )
        await h.apps.reconcile(key, frozenset({triggers.DELETING}))
        assert h.engine.deletes == [cascade]
        assert FINALIZER not in h.app(key)["metadata"]["finalizers"]


async def test_stuck_deletion_says_why() -> None:
    h, key = await ready_harness(automated={"prune": True})
    await h.apps.reconcile(key, frozenset())
    h.engine.delete_done = False
    h.edit_app(
        key, lambda b: b["metadata"].__setitem__("deletionTimestamp", "2024-01-01T00:00:00Z")
    )
    await h.apps.reconcile(key, frozenset({triggers.DELETING}))
    body = h.app(key)
    assert FINALIZER in body["metadata"]["finalizers"]
    ready = conditions(body["status"])["Ready"]
    assert ready["reason"] == "DeletionBlocked" and "finalizers" in ready["message"]


async def test_invalid_spec_is_stalled_with_the_field() -> None:
    h = Harness()
    key = h.add_app(interval="soon")
    await h.apps.reconcile(key, frozenset())
    stalled = conditions(h.app(key)["status"])["Stalled"]
    assert stalled["reason"] == "InvalidSpec" and "interval" in stalled["message"]


async def test_drift_from_the_cache_wakes_the_app() -> None:
    h, key = await ready_harness()
    await h.apps.reconcile(key, frozenset())
    h.engine.wakers["web"]()
    got, reasons = await h.runtime.app_queue.get()
    assert got == key and triggers.DRIFT in reasons


def test_status_only_changes_do_not_wake() -> None:
    from tether.controller.runtime import app_reasons

    old = {"metadata": {"generation": 1, "annotations": {}}, "status": {}}
    new = {
        "metadata": {"generation": 1, "annotations": {}},
        "status": {"sync": {"status": "Synced"}},
    }
    assert app_reasons("MODIFIED", old, new) == set()
    new2 = {"metadata": {"generation": 2}}
    assert app_reasons("MODIFIED", old, new2) == {triggers.SPEC_CHANGED}
    assert app_reasons(None, None, new) == {triggers.RESUMED}


def test_synced_comparison_reports_synced() -> None:
    assert synced("r").sync_status == "Synced"
    assert drifted("r").sync_status == "OutOfSync"


@pytest.fixture
def strict_status_models() -> Iterator[None]:
    """Every status model refuses unknown keys (the API server would prune them)."""
    from tether.api.types import StatusModel

    def all_models(cls: type[StatusModel]) -> list[type[StatusModel]]:
        out = []
        for sub in cls.__subclasses__():
            out += [sub, *all_models(sub)]
        return out

    models = all_models(StatusModel)
    saved = {m: m.model_config.get("extra") for m in models}
    for _ in range(2):  # inner models first, then the ones embedding them
        for model in models:
            model.model_config["extra"] = "forbid"
            model.model_rebuild(force=True)
    yield
    for _ in range(2):
        for model in models:
            model.model_config["extra"] = saved[model]
            model.model_rebuild(force=True)


def test_strict_status_models_refuse_a_misspelled_key(strict_status_models: None) -> None:
    from pydantic import ValidationError

    from tether.api.application import ApplicationStatus

    with pytest.raises(ValidationError):
        ApplicationStatus.model_validate({"sync": {"status": "Synced", "revison": "x"}})


async def test_written_statuses_match_the_crd_models(strict_status_models: None) -> None:
    from tether.api.application import ApplicationStatus
    from tether.api.repository import RepositoryStatus

    h, key = await ready_harness(automated={"prune": True})
    h.engine.comparison = drifted
    h.engine.after_sync = drifted
    await h.apps.reconcile(key, frozenset())
    ApplicationStatus.model_validate(h.app(key)["status"])
    from tether.diff.jsonmerge import apply_merge_patch as apply_merge

    state: dict[str, Any] = {}
    for _, patch in h.app_api.status_patches:  # every intermediate status is valid too
        state = apply_merge(state, patch)
        ApplicationStatus.model_validate(state)
    RepositoryStatus.model_validate(h.runtime.repos.get(("ns", "repo"))["status"])
    h.engine.render_error = ValueError("bad.yaml: broken")
    await h.apps.reconcile(key, frozenset())
    ApplicationStatus.model_validate(h.app(key)["status"])


async def test_git_outage_is_reported_and_pauses_automatic_sync() -> None:
    h, key = await ready_harness(automated={"prune": True})
    await h.apps.reconcile(key, frozenset())
    h.git.error = gerr.NetworkUnreachableError("connection refused", url="git://127.0.0.1:1/r.git")
    await h.repos.reconcile(("ns", "repo"), frozenset({triggers.INTERVAL}))
    h.engine.comparison = drifted  # e.g. someone edited an object meanwhile
    await h.apps.reconcile(key, frozenset({triggers.DEPENDENCY}))
    status = h.app(key)["status"]
    ready = conditions(status)["Ready"]
    assert ready["status"] == "False" and ready["reason"] == "SourceUnavailable"
    assert "connection refused" in ready["message"]
    assert h.engine.syncs == []
    # the server comes back: the app converges again
    h.git.error = None
    await h.repos.reconcile(("ns", "repo"), frozenset({triggers.INTERVAL}))
    await h.apps.reconcile(key, frozenset({triggers.DEPENDENCY}))
    assert len(h.engine.syncs) == 1
    assert conditions(h.app(key)["status"])["Ready"]["status"] == "True"


async def test_a_failed_compare_sets_a_named_reason_backs_off_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tether.api.conditions import Reason
    from tether.controller.adapters import ObjectsRejected

    h, key = await ready_harness(automated={"prune": True})
    await h.apps.reconcile(key, frozenset())
    message = "rollout.yaml[doc 1]: Rollout ns/r: the cluster does not know kind Rollout"
    h.engine.compare_error = ObjectsRejected(message, Reason.UNKNOWN_KIND)
    delays = []
    with caplog.at_level("INFO", logger="tether.controller.application"):
        for _ in range(3):
            h.runtime.app_queue.forget(key)  # the previous timer has fired
            await h.apps.reconcile(key, frozenset({triggers.RETRY}))
            delays.append(h.runtime.app_queue.scheduled_in(key))
            status = h.app(key)["status"]
            ready = conditions(status)["Ready"]
            assert (ready["status"], ready["reason"]) == ("False", "UnknownKind")
            assert status["message"] == message and status["sync"]["status"] == "Unknown"
        h.engine.compare_error = None
        await h.apps.reconcile(key, frozenset({triggers.RETRY}))
    assert conditions(h.app(key)["status"])["Ready"]["status"] == "True"
    assert h.engine.syncs == []  # nothing is synced while the compare fails
    assert all(d is not None for d in delays) and delays[0] < delays[1] < delays[2]
    lines = [r.getMessage() for r in caplog.records]
    failures = [line for line in lines if "UnknownKind" in line or "recovered" in line]
    assert failures == [
        f"application ns/web: UnknownKind: {message}",
        "application ns/web: recovered",
    ]
    assert "application ns/web: Unknown Healthy (was Synced Healthy)" in lines
    assert not any(r.exc_info for r in caplog.records)
