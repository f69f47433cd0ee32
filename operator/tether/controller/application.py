"""The Application controller: one reconcile = source, render, compare, maybe sync, status.

``ApplicationController.reconcile`` is called by a queue worker for one key with
the reasons it was woken. It:

1. handles deletion (finalizer, Delete or Orphan) and adds the finalizer;
2. gets the commit from the Repository controller's memory (or resolves a
   ``repoURL`` itself, throttled to the app's interval);
3. renders and compares through the ``AppEngine`` port;
4. asks ``policy.decide`` whether to sync; a sync persists ``operationState``
   after each step (one status PATCH per step) and resumes a Running one;
5. writes the status with ``StatusWriter`` (one PATCH, none when unchanged),
   posts Events, updates metrics and schedules the next interval.

Failures of source or render never reach the sync step, so they never prune.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from tether.api import conditions as cond
from tether.api.application import MAX_HISTORY, Application
from tether.api.conditions import Reason
from tether.api.types import parse_duration
from tether.controller import events as ev
from tether.controller import policy, triggers
from tether.controller.metrics import Metrics
from tether.controller.ports import (
    AppEngine,
    Comparison,
    GitSource,
    NotPermittedError,
    Resolved,
    SyncOutcome,
)
from tether.controller.redact import REDACTOR
from tether.controller.repository import Failure, RepositoryController, classify
from tether.controller.status import StatusWriter
from tether.controller.store import ObjectStore
from tether.controller.triggers import Key, WakeQueue
from tether.identity import AppRef
from tether.manifests.toolrun import RenderStoppedError
from tether.tenancy import ProjectBook, ProjectPolicy, Request, SourceRequest, check

log = logging.getLogger(__name__)

FINALIZER = "tether.dev/finalizer"
SYNC_ANNOTATION = "tether.dev/sync"
REFRESH_ANNOTATION = triggers.REFRESH_ANNOTATION
SHARED_RESOURCE = "SharedResource"
DELETION_RETRY = 5.0


class MetadataPatcher(Protocol):
    async def patch_metadata(self, key: Key, patch: dict[str, Any]) -> None:
        """Merge-patch the Application object itself (finalizers)."""
        ...


@dataclass(frozen=True)
class Problem:
    """Why this reconcile could not compare: no source, or no render."""

    reason: str
    message: str
    stalled: bool = False
    waiting: bool = False  # not an error: the Repository has not resolved it yet


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_stamp(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def policy_of(app: Application) -> policy.SyncPolicy:
    """The automation rules the spec asks for, as plain data."""
    sp = app.spec.sync_policy
    auto = sp.automated
    retry = sp.retry
    backoff = policy.Backoff()
    limit = 0
    if retry is not None:
        limit = retry.limit
        backoff = policy.Backoff(
            duration=parse_duration(retry.backoff.duration),
            factor=retry.backoff.factor,
            max_duration=parse_duration(retry.backoff.max_duration),
        )
    return policy.SyncPolicy(
        automated=auto is not None,
        prune=bool(auto and auto.prune),
        self_heal=bool(auto and auto.self_heal),
        allow_empty=bool(auto and auto.allow_empty),
        retry_limit=limit,
        backoff=backoff,
        suspend=app.spec.suspend,
    )


def last_operation(status: Mapping[str, Any]) -> policy.LastOperation | None:
    op = status.get("operationState")
    if not isinstance(op, Mapping) or not op.get("phase"):
        return None
    initiated = str(op.get("initiatedBy") or "")
    return policy.LastOperation(
        phase=str(op["phase"]),
        revision=str(op.get("revision") or ""),
        automated=initiated in ("automated", "selfHeal"),
        request=str(status.get("lastHandledSync") or "") if initiated == "manual" else "",
        retry_count=int(op.get("retryCount") or 0),
        finished_at=_parse_stamp(op.get("finishedAt")),
    )


class ApplicationController:
    """Reconciles Applications; see the module docstring."""

    def __init__(
        self,
        *,
        store: ObjectStore,
        repos: RepositoryController,
        engine: AppEngine,
        git: GitSource,
        writer: StatusWriter,
        meta: MetadataPatcher,
        queue: WakeQueue,
        events: ev.EventRecorder,
        metrics: Metrics,
        wake_repo: Callable[[Key, str], None],
        projects: ProjectBook,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.repos = repos
        self.engine = engine
        self.git = git
        self.writer = writer
        self.meta = meta
        self.queue = queue
        self.events = events
        self.metrics = metrics
        self.wake_repo = wake_repo
        self.projects = projects
        self.clock = clock
        self._states: dict[Key, tuple[str, str]] = {}
        self._inline: dict[tuple[str, str], tuple[float, Resolved]] = {}
        self._watched: set[Key] = set()
        self._outages: dict[Key, Problem] = {}

    def _now(self) -> datetime:
        return datetime.fromtimestamp(int(self.clock()), UTC)

    # -- entry -----------------------------------------------------------------------

    async def reconcile(self, key: Key, reasons: frozenset[str]) -> None:
        body = self.store.get(key)
        if body is None:
            await self._gone(key)
            return
        started = time.perf_counter()
        try:
            await self._reconcile(key, body, reasons)
        finally:
            self.metrics.observe_reconcile("Application", time.perf_counter() - started)
            self.metrics.set_applications(self._states.values())

    async def _reconcile(self, key: Key, body: dict[str, Any], reasons: frozenset[str]) -> None:
        observed = body.get("status") or {}
        meta = body.get("metadata") or {}
        generation = meta.get("generation")
        try:
            app = Application.model_validate(body)
        except ValidationError as exc:
            await self._write_problem(
                key, body, None, Problem(Reason.INVALID_SPEC, _validation_message(exc), True)
            )
            return
        if key not in self._watched:
            self.engine.watch(app, lambda: self.queue.wake(key, triggers.DRIFT))
            self._watched.add(key)
        if meta.get("deletionTimestamp"):
            await self._delete(key, app, body)
            return
        if FINALIZER not in (meta.get("finalizers") or []):
            await self.meta.patch_metadata(
                key, {"metadata": {"finalizers": [*(meta.get("finalizers") or []), FINALIZER]}}
            )

        refresh = meta.get("annotations", {}).get(REFRESH_ANNOTATION, "")
        refresh_new = bool(refresh) and refresh != observed.get("lastHandledRefresh")
        refused = self._admission(key, app)
        if refused is not None:
            # Nothing is fetched or written; the app waits for its spec, its Project
            # (the Project watch wakes it) or the interval.
            await self._write_problem(key, body, app, refused, refresh=refresh)
            self._schedule(key, app, retry=False)
            return
        self._outages.pop(key, None)
        resolved = await self._source(key, app, force=refresh_new)
        outage = self._outages.pop(key, None)
        if isinstance(resolved, Problem):
            await self._write_problem(key, body, app, resolved, refresh=refresh)
            if not resolved.waiting:
                await self.events.warning(
                    ev.InvolvedObject.of(body), ev.SOURCE_UNAVAILABLE, resolved.message
                )
            self._schedule(key, app, retry=not resolved.waiting)
            return
        try:
            desired = await self.engine.render(app, resolved)
        except RenderStoppedError:
            return  # shutting down: not a fault of the source; the next process renders again
        except Exception as exc:
            problem = Problem(Reason.RENDER_FAILED, REDACTOR.redact(str(exc)))
            await self._write_problem(key, body, app, problem, refresh=refresh, resolved=resolved)
            self._schedule(key, app, retry=True)
            return
        try:
            comparison = await self.engine.compare(app, resolved, desired)
        except NotPermittedError as exc:
            problem = Problem(Reason.NOT_PERMITTED, str(exc), True)
            await self._write_problem(key, body, app, problem, refresh=refresh, resolved=resolved)
            self._schedule(key, app, retry=False)
            return
        status = dict(self.writer.last(key, observed))
        decision = policy.decide(
            policy_of(app),
            policy.Observation(comparison.sync_status, resolved.display, comparison.empty),
            last_operation(status),
            sync_request=meta.get("annotations", {}).get(SYNC_ANNOTATION, ""),
            handled_request=str(status.get("lastHandledSync") or ""),
            now=self.clock(),
        )
        if outage is not None and decision.action == "sync" and not decision.request:
            # The source may be stale: no automatic sync (and so no prune) until it is back.
            decision = policy.Decision("none", "source unavailable; automatic sync paused")
        if decision.action in ("sync", "resume"):
            status = await self._sync(key, body, app, resolved, desired, decision, status)
            comparison = await self.engine.compare(app, resolved, desired)
        new = build_status(
            status,
            generation=generation,
            comparison=comparison,
            decision=decision,
            suspended=app.spec.suspend,
            refresh=refresh,
            now=self._now(),
            outage=outage,
        )
        await self.writer.write(key, new, observed)
        if outage is not None:
            await self.events.warning(
                ev.InvolvedObject.of(body), ev.SOURCE_UNAVAILABLE, outage.message
            )
        if comparison.conflicts:
            await self.events.warning(
                ev.InvolvedObject.of(body), ev.SHARED_RESOURCE, "; ".join(comparison.conflicts)
            )
        self._states[key] = (new["sync"]["status"], new["health"]["status"])
        if decision.action == "wait":
            self.queue.wake_after(key, decision.wait_seconds, triggers.RETRY)
        self._schedule(key, app, retry=False)

    # -- tenancy ----------------------------------------------------------------------

    def _admission(self, key: Key, app: Application) -> Problem | None:
        """What the app's Project refuses before anything is read: the Project itself,
        the app's namespace, destination, source and ServiceAccount."""
        ref = AppRef(*key)
        found = self.projects.policy(app.spec.project, ref)
        if not isinstance(found, ProjectPolicy):
            return Problem(Reason.NOT_PERMITTED, found.summary(), True)
        verdict = check(
            found,
            Request(
                ref,
                app.target_namespace or key[0],
                source=self._source_request(key, app),
                service_account=app.spec.destination.service_account_name,
            ),
        )
        return None if verdict.allowed else Problem(Reason.NOT_PERMITTED, verdict.summary(), True)

    def _source_request(self, key: Key, app: Application) -> SourceRequest | None:
        source = app.spec.source
        if source.repo_url is not None:
            return SourceRequest(source.repo_url)
        ref = source.repository_ref
        assert ref is not None
        if ref.namespace not in (None, key[0]):
            return SourceRequest("", ref.name, ref.namespace)
        body = self.repos.store.get((key[0], ref.name))
        url = str(((body or {}).get("spec") or {}).get("url") or "")
        # A Repository not seen yet is reported by the source step; its URL is checked
        # on the next reconcile, before anything is fetched for this app.
        return SourceRequest(url, ref.name) if url else None

    # -- source -----------------------------------------------------------------------

    async def _source(self, key: Key, app: Application, *, force: bool) -> Resolved | Problem:
        source = app.spec.source
        revision = source.revision
        if source.repo_url is not None:
            return await self._inline_source(key, app, force=force)
        assert source.repository_ref is not None
        repo_key = (key[0], source.repository_ref.name)
        if force:
            self.wake_repo(repo_key, triggers.REFRESH)
        if self.store_repo_missing(repo_key):
            return Problem(
                Reason.SOURCE_UNAVAILABLE,
                f"Repository {repo_key[0]}/{repo_key[1]} does not exist",
            )
        state = self.repos.state(repo_key)
        found = state.lookup(revision) if state is not None else None
        problem = state.problem(revision) if state is not None else None
        if found is not None and (problem is None or not problem.stalled):
            if problem is not None:
                self._outages[key] = Problem(
                    Reason.SOURCE_UNAVAILABLE,
                    f"Repository {repo_key[1]} unavailable, showing the last known commit "
                    f"{found.commit[:12]}: {problem.message}",
                )
            return found
        if problem is not None:
            return Problem(
                problem.reason, f"Repository {repo_key[1]}: {problem.message}", problem.stalled
            )
        self.wake_repo(repo_key, triggers.DEPENDENCY)
        return Problem(
            Reason.FETCHING,
            f"waiting for Repository {repo_key[1]} to resolve {revision}",
            waiting=True,
        )

    def store_repo_missing(self, repo_key: Key) -> bool:
        return self.repos.store.get(repo_key) is None

    async def _inline_source(
        self, key: Key, app: Application, *, force: bool
    ) -> Resolved | Problem:
        source = app.spec.source
        assert source.repo_url is not None
        cache_key = (source.repo_url, source.revision)
        cached = self._inline.get(cache_key)
        if (
            cached is not None
            and not force
            and self.clock() - cached[0] < app.spec.interval_seconds
        ):
            return cached[1]
        try:
            found = await self.git.resolve(
                source.repo_url,
                source.revision,
                auth=None,
                insecure=source.insecure,
                timeout=60.0,
                max_age=0.0 if force else app.spec.interval_seconds,
            )
        except Exception as exc:
            failure: Failure = classify(exc)
            if cached is not None and not failure.stalled:
                self._outages[key] = Problem(
                    Reason.SOURCE_UNAVAILABLE,
                    f"{source.repo_url} unavailable, showing the last known commit "
                    f"{cached[1].commit[:12]}: {failure.message}",
                )
                return cached[1]  # keep the last good commit through an outage
            return Problem(failure.reason, failure.message, failure.stalled)
        self._inline[cache_key] = (self.clock(), found)
        return found

    # -- sync -------------------------------------------------------------------------

    async def _sync(
        self,
        key: Key,
        body: dict[str, Any],
        app: Application,
        resolved: Resolved,
        desired: Sequence[dict[str, Any]],
        decision: policy.Decision,
        status: dict[str, Any],
    ) -> dict[str, Any]:
        who = ev.InvolvedObject.of(body)
        previous = status.get("operationState") or {}
        resume = previous.get("plan") if decision.action == "resume" else None
        initiated = (
            "manual"
            if decision.request
            else ("selfHeal" if decision.reason.startswith("self-heal") else "automated")
        )
        if decision.action == "resume":
            initiated = str(previous.get("initiatedBy") or initiated)
        started_at = (previous.get("startedAt") if decision.action == "resume" else None) or _stamp(
            self._now()
        )
        op: dict[str, Any] = {
            "phase": policy.RUNNING,
            "message": decision.reason,
            "revision": resolved.display,
            "initiatedBy": initiated,
            "startedAt": started_at,
            "retryCount": decision.retry_count,
        }
        current = dict(status)
        generation = (body.get("metadata") or {}).get("generation")
        current["conditions"] = [
            c.to_dict()
            for c in cond.mark_reconciling(
                _conditions(status),
                Reason.SYNCING,
                f"syncing {resolved.display}: {decision.reason}",
                generation=generation,
                now=self._now(),
            )
        ]
        if decision.request:
            current["lastHandledSync"] = decision.request
        if decision.action == "sync":
            await self.events.normal(
                who, ev.SYNC_STARTED, f"sync of {resolved.display} started: {decision.reason}"
            )

        async def persist(plan: Mapping[str, Any]) -> None:
            nonlocal current
            step = dict(op)
            step["plan"] = dict(plan)
            if plan.get("message"):
                step["message"] = str(plan["message"])[:1024]
            current = {**current, "operationState": step}
            await self.writer.write(key, current, None)

        current = {**current, "operationState": {**op, "plan": dict(resume or {})}}
        await self.writer.write(key, current, None)
        try:
            outcome = await self.engine.sync(
                app, resolved, desired, prune=decision.prune, resume=resume, persist=persist
            )
        except Exception as exc:
            log.exception("sync of %s/%s failed", *key)
            outcome = SyncOutcome(policy.ERROR, REDACTOR.redact(f"{type(exc).__name__}: {exc}"))
        finished = self._now()
        final = dict(current.get("operationState") or op)
        final.update(
            phase=outcome.phase,
            message=REDACTOR.redact(outcome.message)[:1024],
            finishedAt=_stamp(finished),
        )
        if outcome.state:
            final["plan"] = dict(outcome.state)
        history = append_history(
            current.get("history") or [],
            revision=resolved.display,
            result=outcome.phase,
            started=str(final.get("startedAt") or ""),
            finished=_stamp(finished),
            message=final["message"],
        )
        current = {**current, "operationState": final, "history": history}
        self.metrics.count_sync(outcome.phase)
        if outcome.pruned:
            await self.events.normal(
                who, ev.PRUNED, f"pruned {len(outcome.pruned)}: " + ", ".join(outcome.pruned[:10])
            )
        if outcome.phase == policy.SUCCEEDED:
            await self.events.normal(who, ev.SYNC_SUCCEEDED, f"synced {resolved.display}")
        else:
            await self.events.warning(who, ev.SYNC_FAILED, final["message"])
        return current

    # -- deletion ---------------------------------------------------------------------

    async def _delete(self, key: Key, app: Application, body: dict[str, Any]) -> None:
        finalizers = list((body.get("metadata") or {}).get("finalizers") or [])
        if FINALIZER not in finalizers:
            return
        policy_name = app.spec.effective_deletion_policy()
        try:
            outcome = await self.engine.delete(app, cascade=policy_name == "Delete")
        except Exception as exc:
            outcome_message = REDACTOR.redact(f"{type(exc).__name__}: {exc}")
            await self._deletion_blocked(key, body, app, outcome_message)
            return
        if not outcome.done:
            await self._deletion_blocked(key, body, app, outcome.message)
            return
        await self.meta.patch_metadata(
            key, {"metadata": {"finalizers": [f for f in finalizers if f != FINALIZER]}}
        )
        await self._gone(key)

    async def _deletion_blocked(
        self, key: Key, body: dict[str, Any], app: Application, message: str
    ) -> None:
        text = f"deletion ({app.spec.effective_deletion_policy()}) waits: {message}"
        await self._write_problem(
            key, body, app, Problem(Reason.DELETION_BLOCKED, text), deleting=True
        )
        await self.events.warning(ev.InvolvedObject.of(body), ev.DELETION_BLOCKED, text)
        self.queue.wake_after(key, DELETION_RETRY, triggers.DELETING)

    async def _gone(self, key: Key) -> None:
        self._states.pop(key, None)
        self.writer.forget(key)
        self.queue.forget(key)
        if key in self._watched:
            self._watched.discard(key)
            await self.engine.forget(key)

    # -- status for failures --------------------------------------------------------------

    async def _write_problem(
        self,
        key: Key,
        body: dict[str, Any],
        app: Application | None,
        problem: Problem,
        *,
        refresh: str = "",
        resolved: Resolved | None = None,
        deleting: bool = False,
    ) -> None:
        observed = body.get("status") or {}
        generation = (body.get("metadata") or {}).get("generation")
        base = self.writer.last(key, observed)
        new = build_problem_status(
            base,
            generation=generation,
            problem=problem,
            resolved=resolved,
            refresh=refresh,
            now=self._now(),
        )
        await self.writer.write(key, new, observed)
        sync = new.get("sync", {}).get("status", "Unknown")
        health = new.get("health", {}).get("status", "Unknown")
        self._states[key] = (sync, health)

    def _schedule(self, key: Key, app: Application, *, retry: bool) -> None:
        interval = app.spec.interval_seconds
        if retry:
            self.queue.wake_after(key, min(interval, 10.0), triggers.RETRY)
        else:
            self.queue.wake_after(key, triggers.jittered(interval), triggers.INTERVAL)


# -- status building (pure) ---------------------------------------------------------------


def append_history(
    history: Sequence[Mapping[str, Any]],
    *,
    revision: str,
    result: str,
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
        "result": result,
    }
    if started:
        entry["startedAt"] = started
    if message:
        entry["message"] = message[:1024]
    return [*(dict(h) for h in history), entry][-MAX_HISTORY:]


def _conditions(previous: Mapping[str, Any]) -> list[cond.Condition]:
    out = []
    for raw in previous.get("conditions") or ():
        try:
            out.append(cond.Condition.model_validate(raw))
        except ValidationError:
            continue
    return out


def _resource_dict(r: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"group": r.group, "version": r.version, "kind": r.kind, "name": r.name}
    if r.namespace:
        item["namespace"] = r.namespace
    item["status"] = r.status
    if r.health:
        health = {"status": r.health}
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


def build_status(
    previous: Mapping[str, Any],
    *,
    generation: int | None,
    comparison: Comparison,
    decision: policy.Decision,
    suspended: bool,
    refresh: str,
    now: datetime,
    outage: Problem | None = None,
) -> dict[str, Any]:
    """The Application status after a successful compare (and maybe a sync).

    ``outage`` is a source problem while the last known commit is still used: it
    wins the Ready condition, since the comparison may be against stale Git.
    """
    sync_status = comparison.sync_status
    conditions = _conditions(previous)
    op = previous.get("operationState") or {}
    failed_here = (
        op.get("phase") in (policy.FAILED, policy.ERROR)
        and op.get("revision") == comparison.revision
    )
    drift = comparison.drift_summary()
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
    message = drift
    if comparison.conflicts:
        conditions = cond.mark_not_ready(
            conditions,
            Reason.SHARED_RESOURCE,
            comparison.conflicts[0],
            generation=generation,
            now=now,
        )
        message = comparison.conflicts[0]
    elif sync_status == "OutOfSync" and failed_here:
        text = f"sync failed: {op.get('message') or ''}".strip()
        exhausted = decision.action == "none" and "retry limit" in decision.reason
        mark = cond.mark_stalled if exhausted else cond.mark_not_ready
        conditions = mark(conditions, Reason.SYNC_FAILED, text, generation=generation, now=now)
        message = text
    elif sync_status == "OutOfSync" and decision.action == "wait":
        conditions = cond.mark_reconciling(
            conditions, Reason.SYNCING, decision.reason, generation=generation, now=now
        )
    elif (
        sync_status == "OutOfSync"
        and comparison.empty
        and decision.action == "none"
        and ("allowEmpty" in decision.reason)
    ):
        conditions = cond.mark_not_ready(
            conditions, Reason.EMPTY_RENDER, decision.reason, generation=generation, now=now
        )
        message = decision.reason
    elif sync_status != "Synced":
        reason = Reason.SUSPENDED if suspended else Reason.OUT_OF_SYNC
        text = drift or f"sync status is {sync_status}"
        if suspended:
            text = f"suspended; {text}"
        conditions = cond.mark_not_ready(conditions, reason, text, generation=generation, now=now)
        message = text
    elif comparison.health == "Healthy":
        conditions = cond.mark_ready(
            conditions, Reason.SUCCEEDED, "synced and healthy", generation=generation, now=now
        )
    elif comparison.health in ("Progressing", "Missing", "Unknown"):
        text = comparison.health_message or f"health is {comparison.health}"
        conditions = cond.mark_reconciling(
            conditions, Reason.PROGRESSING, text, generation=generation, now=now
        )
        message = text
    else:  # Degraded, Suspended
        text = comparison.health_message or f"health is {comparison.health}"
        conditions = cond.mark_not_ready(
            conditions, comparison.health, text, generation=generation, now=now
        )
        message = text
    if outage is not None and not comparison.conflicts:
        text = REDACTOR.redact(outage.message)[:4096]
        conditions = cond.mark_not_ready(
            conditions, outage.reason, text, generation=generation, now=now
        )
        message = f"{text}; {drift}" if drift else text
    health: dict[str, Any] = {"status": comparison.health}
    if comparison.health_message:
        health["message"] = comparison.health_message[:1024]
    status: dict[str, Any] = {
        **{k: v for k, v in previous.items() if k in _CARRIED},
        "sync": {"status": sync_status, "revision": comparison.revision},
        "health": health,
        "conditions": [c.to_dict() for c in conditions],
        "resources": [_resource_dict(r) for r in comparison.resources],
        "reconciledAt": _stamp(now),
    }
    if generation is not None:
        status["observedGeneration"] = generation
    if message:
        status["message"] = REDACTOR.redact(message)[:1024]
    if refresh:
        status["lastHandledRefresh"] = refresh
    return status


_CARRIED = ("operationState", "history", "lastHandledSync", "lastHandledRefresh")


def build_problem_status(
    previous: Mapping[str, Any],
    *,
    generation: int | None,
    problem: Problem,
    resolved: Resolved | None,
    refresh: str,
    now: datetime,
) -> dict[str, Any]:
    """The status when the source or render failed: keep the inventory, say why."""
    conditions = _conditions(previous)
    message = REDACTOR.redact(problem.message)[:4096]
    if problem.waiting:
        conditions = cond.mark_reconciling(
            conditions, problem.reason, message, generation=generation, now=now
        )
    elif problem.stalled:
        conditions = cond.mark_stalled(
            conditions, problem.reason, message, generation=generation, now=now
        )
    else:
        conditions = cond.mark_not_ready(
            conditions, problem.reason, message, generation=generation, now=now
        )
    status = {k: v for k, v in previous.items() if k != "conditions"}
    sync = dict(previous.get("sync") or {"status": "Unknown"})
    if not problem.waiting:
        sync["status"] = "Unknown"
    if resolved is not None:
        sync["revision"] = resolved.display
    status.update(
        sync=sync,
        health=dict(previous.get("health") or {"status": "Unknown"}),
        conditions=[c.to_dict() for c in conditions],
        message=message[:1024],
        reconciledAt=_stamp(now),
    )
    if generation is not None:
        status["observedGeneration"] = generation
    if refresh:
        status["lastHandledRefresh"] = refresh
    return status


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "invalid spec: " + "; ".join(parts)


__all__ = [
    "FINALIZER",
    "REFRESH_ANNOTATION",
    "SYNC_ANNOTATION",
    "ApplicationController",
    "Problem",
    "build_problem_status",
    "build_status",
]
