"""The Application controller: one reconcile = source, render, compare, maybe sync, status.

``ApplicationController.reconcile`` is called by a queue worker for one key with
the reasons it was woken. It:

1. handles deletion (finalizer, Delete or Orphan) and adds the finalizer;
2. gets the commit from the Repository controller's memory (or resolves a
   ``repoURL`` itself, throttled to the app's interval);
3. renders and compares through the ``AppEngine`` port; for an app with
   ``spec.writeBack``, ``controller.writeback`` runs in between: it captures live
   changes, holds them in the render it returns, and pushes them after debounce;
4. asks ``policy.decide`` whether to sync; a sync persists ``operationState``
   when it starts and after each step but the last (one status PATCH each) and
   resumes a Running one; the finished operation rides on step 5's write;
5. writes the status built by ``appstatus`` with ``StatusWriter`` (one PATCH,
   none when unchanged), posts Events, updates metrics and schedules the next
   interval.

The Application is translated once, by ``tether.appspec.spec_of``; everything
after reads the ``AppSpec``. A failure of source, render, compare or sync ends
the reconcile with Ready=False and a named reason (a 403 from the API server is
``PermissionDenied``, naming the user, verb, resource and namespace refused) (``failure_problem`` is the
one mapping), is logged once when it starts or changes, and is retried with
exponential backoff; failures before the sync step never reach it, so they
never prune.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError

from tether.api import conditions as cond
from tether.api.application import Application, ApplicationSource
from tether.api.conditions import Reason
from tether.appspec import AppSpec, Backoff, SourceSpec, spec_of
from tether.constants import FINALIZER, REFRESH_ANNOTATION, SYNC_ANNOTATION
from tether.controller import events as ev
from tether.controller import policy, triggers
from tether.controller.appstatus import (
    Problem,
    append_history,
    compared_status,
    conditions_of,
    operation_progress,
    parse_stamp,
    problem_status,
    stamp,
    with_write_back,
    without_write_back,
    write_back_reason,
)
from tether.controller.fence import NO_FENCE, Fenced, OperationFence
from tether.controller.metrics import Metrics
from tether.controller.policy import Initiator, SyncAction
from tether.controller.ports import (
    AppEngine,
    GitSource,
    Rendered,
    RepoAccess,
    SourceCommit,
    SyncOutcome,
    WriteBackPort,
)
from tether.controller.redact import REDACTOR
from tether.controller.repository import Failure, RepoState, classify, classify_source
from tether.controller.status import StatusWriter
from tether.controller.store import ObjectStore
from tether.controller.triggers import Key, WakeQueue
from tether.controller.writeback import Outcome, WriteBackStep
from tether.errors import TetherError
from tether.identity import AppRef
from tether.kube.errors import Forbidden
from tether.kube.resource import GVK
from tether.manifests.errors import DuplicateObjectError
from tether.manifests.toolrun import RenderStoppedError
from tether.sources import RepoType, SourceError
from tether.sync.state import OperationPhase
from tether.tenancy import (
    ProjectBook,
    ProjectPolicy,
    Request,
    SourceRequest,
    check,
    deny_all,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

DELETION_RETRY = 5.0


class MetadataPatcher(Protocol):
    async def patch_metadata(self, key: Key, patch: dict[str, Any]) -> None:
        """Merge-patch the Application object itself (finalizers)."""
        ...


@dataclass(frozen=True)
class AppPorts:
    """What the controller acts through: the engine, Git, and the API writes."""

    engine: AppEngine
    git: GitSource
    writer: StatusWriter
    meta: MetadataPatcher
    events: ev.EventRecorder
    metrics: Metrics
    fence: OperationFence = field(default=NO_FENCE)  # sharding: who may run operations
    writeback: WriteBackPort | None = None  # None: write-back off (tests of other parts)


@dataclass(frozen=True)
class Neighbours:
    """What the controller reads from the rest of the operator, and how it wakes things."""

    store: ObjectStore  # Applications, filled by the watch
    queue: WakeQueue  # this controller's own queue
    repo_state: Callable[[Key], RepoState | None]  # the Repository controller's memory
    repo_exists: Callable[[Key], bool]
    wake_repo: Callable[[Key, str], None]
    projects: ProjectBook  # filled by the Project watch
    repo_url: Callable[[Key], str]  # a Repository's spec.url as watched ("" if unknown)


@dataclass(frozen=True)
class Sourced:
    """The commit to render, and the outage to report when it is the last known one."""

    resolved: SourceCommit
    outage: Problem | None = None


def _finished(plan: Mapping[str, Any]) -> bool:
    """The persisted operation has ended (its phase is not Running)."""
    phase = str(plan.get("phase") or OperationPhase.RUNNING.value)
    return phase != OperationPhase.RUNNING.value


def last_operation(status: Mapping[str, Any]) -> policy.LastOperation | None:
    op = status.get("operationState")
    if not isinstance(op, Mapping) or not op.get("phase"):
        return None
    try:
        phase = OperationPhase(str(op["phase"]))
    except ValueError:
        return None
    initiated = str(op.get("initiatedBy") or "")
    initiator = Initiator(initiated) if initiated in set(Initiator) else None
    return policy.LastOperation(
        phase=phase,
        revision=str(op.get("revision") or ""),
        automated=initiator in (Initiator.AUTOMATED, Initiator.SELF_HEAL),
        request=str(status.get("lastHandledSync") or "") if initiator is Initiator.MANUAL else "",
        retry_count=int(op.get("retryCount") or 0),
        finished_at=parse_stamp(op.get("finishedAt")),
        initiator=initiator,
    )


class ApplicationController:
    """Reconciles Applications; see the module docstring."""

    def __init__(
        self, ports: AppPorts, neighbours: Neighbours, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.ports = ports
        self.engine = ports.engine
        self.writer = ports.writer
        self.events = ports.events
        self.metrics = ports.metrics
        self.store = neighbours.store
        self.queue = neighbours.queue
        self.neighbours = neighbours
        self.clock = clock
        self._states: dict[Key, tuple[str, str]] = {}
        self._inline: dict[tuple[str, str], tuple[float, SourceCommit]] = {}
        self._watched: set[Key] = set()
        self._failures = FailureLog()
        self.write_back = (
            WriteBackStep(ports.writeback, clock=self.clock) if ports.writeback else None
        )

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

    async def _reconcile(self, key: Key, body: dict[str, Any], reasons: frozenset[str]) -> None:
        meta = body.get("metadata") or {}
        try:
            app = Application.model_validate(body)
        except ValidationError as exc:
            await self._fail(
                key, body, None, Problem(Reason.INVALID_SPEC, _validation_message(exc), True)
            )
            return
        # Keep watching the kinds the last status listed: when a kind leaves the source,
        # its objects must still be seen to be pruned (a Namespace, a CRD's objects).
        spec = replace(
            spec_of(app),
            extra_kinds=tuple(_kinds_from_status(app)),
            project=self._policy(key, app),
        )
        if key not in self._watched:
            self.engine.watch(spec, lambda: self.queue.wake(key, triggers.DRIFT))
            self._watched.add(key)
        if meta.get("deletionTimestamp"):
            await self._delete(key, app, spec, body)
            return
        if FINALIZER not in (meta.get("finalizers") or []):
            await self.ports.meta.patch_metadata(
                key, {"metadata": {"finalizers": [*(meta.get("finalizers") or []), FINALIZER]}}
            )
        refresh = meta.get("annotations", {}).get(REFRESH_ANNOTATION, "")
        refresh_new = bool(refresh) and refresh != (body.get("status") or {}).get(
            "lastHandledRefresh"
        )
        refused = self._admission(key, app, spec)
        if refused is not None:
            # Nothing is fetched or written; the app waits for its spec, its Project
            # (the Project watch wakes it) or the interval.
            await self._fail(key, body, spec, refused, refresh=refresh)
            return
        sourced = await self._source(key, spec, force=refresh_new)
        if isinstance(sourced, Problem):
            await self._fail(key, body, spec, sourced, refresh=refresh)
            return
        try:
            await self._compare_and_sync(key, body, spec, sourced, refresh)
        except RenderStoppedError:
            return  # shutting down: not a fault of the source; the next process renders again
        except Fenced as fenced:
            # Another shard owns the app now: leave the operation Running for it to resume.
            log.info("application %s/%s: operation not continued here: %s", *key, fenced)
            self.queue.wake_after(key, 1.0, triggers.RETRY)  # skipped unless still ours
        except StepFailed as failed:
            await self._fail(
                key, body, spec, failed.problem, refresh=refresh, resolved=sourced.resolved
            )

    async def _compare_and_sync(
        self, key: Key, body: dict[str, Any], spec: AppSpec, sourced: Sourced, refresh: str
    ) -> None:
        observed = body.get("status") or {}
        meta = body.get("metadata") or {}
        resolved, outage = sourced.resolved, sourced.outage
        desired = await self._step(Reason.RENDER_FAILED, self.engine.render(spec, resolved))
        written = await self._write_back(key, spec, resolved, desired, observed)
        if written is not None:
            desired = written.desired  # captured live values held until their commit lands
        comparison = await self._step(
            Reason.COMPARE_FAILED, self.engine.compare(spec, resolved, desired)
        )
        status = dict(self.writer.last(key, observed))
        if written is not None:
            status = with_write_back(
                status,
                written,
                generation=meta.get("generation"),
                now=self._now(),
            )
        elif spec.write_back is None:
            status = without_write_back(status)
        decision = policy.decide(
            spec.sync,
            policy.Observation(comparison.sync_status, resolved.display, comparison.empty),
            last_operation(status),
            sync_request=meta.get("annotations", {}).get(SYNC_ANNOTATION, ""),
            handled_request=str(status.get("lastHandledSync") or ""),
            now=self.clock(),
        )
        if outage is not None and decision.action is SyncAction.SYNC and not decision.request:
            # The source may be stale: no automatic sync (and so no prune) until it is back.
            decision = policy.Decision(SyncAction.NONE, "source unavailable; automatic sync paused")
        if decision.action in (SyncAction.SYNC, SyncAction.RESUME):
            status = await self._sync(key, body, spec, resolved, desired, decision, status)
            try:
                comparison = await self._step(
                    Reason.COMPARE_FAILED, self.engine.compare(spec, resolved, desired)
                )
            except StepFailed:
                # The finished operation rides on the status write below; when the
                # comparison fails there is none, so write it before the failure.
                await self.writer.write(key, status, None)
                raise
        new = compared_status(
            status,
            generation=meta.get("generation"),
            comparison=comparison,
            decision=decision,
            suspended=spec.sync.suspend,
            refresh=refresh,
            now=self._now(),
            outage=outage,
        )
        await self.writer.write(key, new, observed)
        self._failures.cleared(key)
        who = ev.InvolvedObject.of(body)
        if outage is not None:
            await self.events.warning(who, ev.SOURCE_UNAVAILABLE, outage.message)
        if comparison.conflicts:
            await self.events.warning(who, ev.SHARED_RESOURCE, "; ".join(comparison.conflicts))
        self._remember_state(key, (new["sync"]["status"], new["health"]["status"]))
        if decision.action is SyncAction.WAIT:
            self.queue.wake_after(key, decision.wait_seconds, triggers.RETRY)
        if written is not None:
            await self._after_write_back(key, body, spec, written)
        self._schedule(key, spec)

    async def _step(self, reason: Reason, work: Awaitable[T]) -> T:
        """Await one engine step; a failure becomes ``StepFailed`` with a named reason."""
        try:
            return await work
        except (StepFailed, RenderStoppedError):
            raise
        except Exception as exc:  # the engine's boundary: every failure gets a reason
            raise StepFailed(failure_problem(reason, exc)) from exc

    # -- write-back -------------------------------------------------------------------

    async def _write_back(
        self,
        key: Key,
        spec: AppSpec,
        resolved: SourceCommit,
        desired: Rendered,
        observed: dict[str, Any],
    ) -> Outcome | None:
        """Capture, hold and push live changes (``controller.writeback``); None without."""
        if spec.write_back is None or self.write_back is None:
            return None
        return await self._step(
            Reason.COMPARE_FAILED,
            self.write_back.run(
                spec,
                resolved,
                desired,
                self._access(key, spec),
                reported=write_back_reason(self.writer.last(key, observed)),
                last=self.writer.last(key, observed).get("writeBack"),
            ),
        )

    def _access(self, key: Key, spec: AppSpec) -> RepoAccess | None:
        """How to push to the app's repository: the Repository's credentials, or none."""
        source = spec.source
        if source.repo_url is not None:
            return RepoAccess(source.repo_url, None, source.insecure)
        assert source.repository is not None
        state = self.neighbours.repo_state((key[0], source.repository))
        return state.access if state is not None else None

    async def _after_write_back(
        self, key: Key, body: dict[str, Any], spec: AppSpec, written: Outcome
    ) -> None:
        """Post the event, and read the source again after a push or wait for the window."""
        if written.notice is not None:
            who = ev.InvolvedObject.of(body)
            post = self.events.warning if written.notice.warning else self.events.normal
            await post(who, written.notice.reason, written.notice.message)
        if written.refresh:
            source = spec.source
            if source.repo_url is not None:
                self._inline.pop((source.repo_url, source.revision), None)
                self.queue.wake(key, triggers.REVISION_MOVED)
            elif source.repository is not None:
                self.neighbours.wake_repo((key[0], source.repository), triggers.REFRESH)
        if written.wake_after is not None:
            self.queue.wake_after(key, written.wake_after, triggers.RETRY)

    # -- tenancy ----------------------------------------------------------------------

    def _policy(self, key: Key, app: Application) -> ProjectPolicy:
        """The app's Project policy; a missing or invalid Project allows nothing (the
        admission step reports why), so cascade deletion then deletes nothing."""
        found = self.neighbours.projects.policy(app.spec.project, AppRef(*key))
        return found if isinstance(found, ProjectPolicy) else deny_all(app.spec.project)

    def _admission(self, key: Key, app: Application, spec: AppSpec) -> Problem | None:
        """What the app's Project refuses before anything is read: the Project itself,
        the app's namespace, destination, source and ServiceAccount."""
        ref = AppRef(*key)
        found = self.neighbours.projects.policy(app.spec.project, ref)
        if not isinstance(found, ProjectPolicy):
            return Problem(Reason.NOT_PERMITTED, found.summary(), True)
        for source in app.spec.all_sources:  # every source must be one the Project admits
            verdict = check(
                found,
                Request(
                    ref,
                    spec.destination_namespace,
                    source=self._source_request(key, source),
                    service_account=app.spec.destination.service_account_name,
                ),
            )
            if not verdict.allowed:
                return Problem(Reason.NOT_PERMITTED, verdict.summary(), True)
        return None

    def _source_request(self, key: Key, source: ApplicationSource) -> SourceRequest | None:
        if source.repo_url is not None:
            return SourceRequest(source.repo_url)
        ref = source.repository_ref
        assert ref is not None
        if ref.namespace not in (None, key[0]):
            return SourceRequest("", ref.name, ref.namespace)
        url = self.neighbours.repo_url((key[0], ref.name))
        # A Repository not seen yet is reported by the source step; its URL is checked
        # on the next reconcile, before anything is fetched for this app.
        return SourceRequest(url, ref.name) if url else None

    # -- source -----------------------------------------------------------------------

    async def _source(self, key: Key, app: AppSpec, *, force: bool) -> Sourced | Problem:
        if not app.sources:
            return await self._one_source(key, app, app.source, force=force)
        parts: list[Sourced] = []
        for index, source in enumerate(app.sources):
            found = await self._one_source(key, app, source, force=force)
            if isinstance(found, Problem):
                return replace(found, message=f"sources[{index}]: {found.message}")
            parts.append(found)
        outages = [part.outage for part in parts if part.outage is not None]
        return Sourced(
            SourceCommit.of_parts([part.resolved for part in parts]),
            outages[0] if outages else None,
        )

    async def _one_source(
        self, key: Key, app: AppSpec, source: SourceSpec, *, force: bool
    ) -> Sourced | Problem:
        revision = source.followed
        if source.repo_url is not None:
            return await self._inline_source(app, source, force=force)
        assert source.repository is not None
        repo_key = (key[0], source.repository)
        if force:
            self.neighbours.wake_repo(repo_key, triggers.REFRESH)
        if not self.neighbours.repo_exists(repo_key):
            return Problem(
                Reason.SOURCE_UNAVAILABLE,
                f"Repository {repo_key[0]}/{repo_key[1]} does not exist",
            )
        state = self.neighbours.repo_state(repo_key)
        mismatch = chart_mismatch(state.type, source.chart, repo_key[1]) if state else None
        if mismatch is not None:
            return Problem(Reason.INVALID_SPEC, mismatch, True)
        found = state.lookup(revision) if state is not None else None
        problem = state.problem(revision) if state is not None else None
        if found is not None and (problem is None or not problem.stalled):
            if problem is None:
                return Sourced(found)
            return Sourced(
                found,
                Problem(
                    Reason.SOURCE_UNAVAILABLE,
                    f"Repository {repo_key[1]} unavailable, showing the last known commit "
                    f"{found.commit[:12]}: {problem.message}",
                ),
            )
        if problem is not None:
            return Problem(
                Reason(problem.reason),
                f"Repository {repo_key[1]}: {problem.message}",
                problem.stalled,
            )
        self.neighbours.wake_repo(repo_key, triggers.DEPENDENCY)
        return Problem(
            Reason.FETCHING,
            f"waiting for Repository {repo_key[1]} to resolve {revision}",
            waiting=True,
        )

    async def _inline_source(
        self, app: AppSpec, source: SourceSpec, *, force: bool
    ) -> Sourced | Problem:
        assert source.repo_url is not None
        cache_key = (source.repo_url, source.revision)
        cached = self._inline.get(cache_key)
        if cached is not None and not force and self.clock() - cached[0] < app.interval:
            return Sourced(cached[1])
        try:
            found = await self.ports.git.resolve(
                source.repo_url,
                source.revision,
                auth=None,
                insecure=source.insecure,
                timeout=60.0,
                max_age=0.0 if force else app.interval,
            )
        except Exception as exc:  # classify maps every Git failure to a reason
            failure: Failure = classify(exc)
            if cached is not None and not failure.stalled:
                outage = Problem(
                    Reason.SOURCE_UNAVAILABLE,
                    f"{source.repo_url} unavailable, showing the last known commit "
                    f"{cached[1].commit[:12]}: {failure.message}",
                )
                return Sourced(cached[1], outage)  # keep the last good commit through an outage
            return Problem(Reason(failure.reason), failure.message, failure.stalled)
        self._inline[cache_key] = (self.clock(), found)
        return Sourced(found)

    # -- sync -------------------------------------------------------------------------

    async def _sync(
        self,
        key: Key,
        body: dict[str, Any],
        app: AppSpec,
        resolved: SourceCommit,
        desired: Rendered,
        decision: policy.Decision,
        status: dict[str, Any],
    ) -> dict[str, Any]:
        await self.ports.fence.begin(key)  # before the first write of the operation
        who = ev.InvolvedObject.of(body)
        previous = status.get("operationState") or {}
        resuming = decision.action is SyncAction.RESUME
        resume = previous.get("plan") if resuming else None
        initiated = str(decision.initiator)
        if resuming:
            initiated = str(previous.get("initiatedBy") or initiated)
        started_at = (previous.get("startedAt") if resuming else None) or stamp(self._now())
        op: dict[str, Any] = {
            "phase": str(OperationPhase.RUNNING),
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
                conditions_of(status),
                Reason.SYNCING,
                f"syncing {resolved.display}: {decision.reason}",
                generation=generation,
                now=self._now(),
            )
        ]
        if decision.request:
            current["lastHandledSync"] = decision.request
        if decision.action is SyncAction.SYNC:
            await self.events.normal(
                who, ev.SYNC_STARTED, f"sync of {resolved.display} started: {decision.reason}"
            )

        async def persist(plan: Mapping[str, Any]) -> None:
            nonlocal current
            self.ports.fence.check(key)  # lost the app: record and start nothing more
            step = {**op, **operation_progress(plan, resolved.display)}
            step["plan"] = dict(plan)
            if plan.get("message"):
                step["message"] = str(plan["message"])[:1024]
            current = {**current, "operationState": step}
            if not _finished(plan):
                # A finished operation is written once, with the comparison after it
                # (one status PATCH instead of two, back to back).
                await self.writer.write(key, current, None)

        current = {**current, "operationState": {**op, "plan": dict(resume or {})}}
        await self.writer.write(key, current, None)
        log.info(
            "application %s/%s: sync of %s started (%s): %s",
            *key,
            resolved.display,
            initiated,
            decision.reason,
        )
        clock = time.monotonic()
        try:
            outcome = await self.engine.sync(
                app, resolved, desired, prune=decision.prune, resume=resume, persist=persist
            )
        except Fenced:
            raise
        except Exception as exc:  # the engine's boundary: the operation ends in Error
            problem = failure_problem(Reason.APPLY_FAILED, exc)
            outcome = SyncOutcome(OperationPhase.ERROR, f"{problem.reason}: {problem.message}")
        finished = self._now()
        log.info(
            "application %s/%s: sync of %s %s in %.1fs: %s",
            *key,
            resolved.display,
            str(outcome.phase).lower(),
            time.monotonic() - clock,
            outcome.message,
        )
        final = dict(current.get("operationState") or op)
        final.update(
            phase=str(outcome.phase),
            message=REDACTOR.redact(outcome.message)[:1024],
            finishedAt=stamp(finished),
        )
        if outcome.state:
            final["plan"] = dict(outcome.state)
            final.update(operation_progress(outcome.state, resolved.display))
        history = append_history(
            current.get("history") or [],
            revision=resolved.display,
            result=outcome.phase,
            started=str(final.get("startedAt") or ""),
            finished=stamp(finished),
            message=final["message"],
        )
        current = {**current, "operationState": final, "history": history}
        self.metrics.count_sync(outcome.phase)
        if outcome.adopted:
            await self.events.normal(
                who,
                ev.ADOPTED,
                f"adopted {len(outcome.adopted)}: " + ", ".join(outcome.adopted[:10]),
            )
        if outcome.pruned:
            await self.events.normal(
                who, ev.PRUNED, f"pruned {len(outcome.pruned)}: " + ", ".join(outcome.pruned[:10])
            )
        for message in outcome.prune_skipped:
            await self.events.warning(who, ev.PRUNE_SKIPPED, message)
        if outcome.phase is OperationPhase.SUCCEEDED:
            await self.events.normal(who, ev.SYNC_SUCCEEDED, f"synced {resolved.display}")
        else:
            await self.events.warning(who, ev.SYNC_FAILED, final["message"])
        return current

    # -- deletion ---------------------------------------------------------------------

    async def _delete(
        self, key: Key, app: Application, spec: AppSpec, body: dict[str, Any]
    ) -> None:
        finalizers = list((body.get("metadata") or {}).get("finalizers") or [])
        if FINALIZER not in finalizers:
            return
        try:
            outcome = await self.engine.delete(
                spec, cascade=spec.deletion_policy == "Delete", kinds=_kinds_from_status(app)
            )
        except Exception as exc:
            outcome_message = REDACTOR.redact(f"{type(exc).__name__}: {exc}")
            await self._deletion_blocked(key, body, spec, outcome_message)
            return
        if not outcome.done:
            await self._deletion_blocked(key, body, spec, outcome.message)
            return
        await self.ports.meta.patch_metadata(
            key, {"metadata": {"finalizers": [f for f in finalizers if f != FINALIZER]}}
        )
        await self._gone(key)

    async def _deletion_blocked(
        self, key: Key, body: dict[str, Any], app: AppSpec, message: str
    ) -> None:
        text = f"deletion ({app.deletion_policy}) waits: {message}"
        await self._write_problem(key, body, Problem(Reason.DELETION_BLOCKED, text))
        await self.events.warning(ev.InvolvedObject.of(body), ev.DELETION_BLOCKED, text)
        self.queue.wake_after(key, DELETION_RETRY, triggers.DELETING)

    async def release(self, key: Key) -> None:
        """Drop everything kept for ``key`` (another shard took the app): its cached
        objects, memos, last written status and timers. Its objects stay in the cluster."""
        await self._gone(key)

    async def _gone(self, key: Key) -> None:
        gone = self._states.pop(key, None)
        if gone is not None:
            self.metrics.move_application(gone, None)
        if self.write_back is not None:
            self.write_back.forget(key)
        self._failures.forget(key)
        self.writer.forget(key)
        self.queue.forget(key)
        if key in self._watched:
            self._watched.discard(key)
            await self.engine.forget(key)

    # -- failures -------------------------------------------------------------------------

    async def _fail(
        self,
        key: Key,
        body: dict[str, Any],
        spec: AppSpec | None,
        problem: Problem,
        *,
        refresh: str = "",
        resolved: SourceCommit | None = None,
    ) -> None:
        """Say why in the status (Ready=False, a named reason), log a change once, retry."""
        await self._write_problem(key, body, problem, refresh=refresh, resolved=resolved)
        if problem.waiting:
            if spec is not None:
                self._schedule(key, spec)
            return
        streak = self._failures.failed(key, problem)
        if problem.reason is Reason.NOT_PERMITTED:
            # No backoff: retrying cannot help; a Project or spec change wakes the app.
            if spec is not None:
                self._schedule(key, spec)
            return
        if problem.reason in SOURCE_REASONS:
            await self.events.warning(
                ev.InvolvedObject.of(body), ev.SOURCE_UNAVAILABLE, problem.message
            )
        if spec is not None:  # an invalid spec waits for the next edit
            self.queue.wake_after(key, RETRY_BACKOFF.jittered(streak), triggers.RETRY)

    async def _write_problem(
        self,
        key: Key,
        body: dict[str, Any],
        problem: Problem,
        *,
        refresh: str = "",
        resolved: SourceCommit | None = None,
    ) -> None:
        observed = body.get("status") or {}
        new = problem_status(
            self.writer.last(key, observed),
            generation=(body.get("metadata") or {}).get("generation"),
            problem=problem,
            resolved=resolved,
            refresh=refresh,
            now=self._now(),
        )
        await self.writer.write(key, new, observed)
        self._remember_state(key, (new["sync"]["status"], new["health"]["status"]))

    def _remember_state(self, key: Key, state: tuple[str, str]) -> None:
        """Keep the app's (sync, health) for metrics; log one line when it changes."""
        previous = self._states.get(key)
        if previous != state:
            was = f" (was {previous[0]} {previous[1]})" if previous is not None else ""
            log.info("application %s/%s: %s %s%s", *key, *state, was)
            # One app moves in the gauge: a rebuild from every app's state per reconcile
            # made each reconcile linear in the number of apps.
            self.metrics.move_application(previous, state)
        self._states[key] = state

    def _schedule(self, key: Key, app: AppSpec) -> None:
        self.queue.wake_after(key, triggers.jittered(app.interval), triggers.INTERVAL)


# Failed reconciles are retried after 5 s, 10 s, ... up to 5 minutes, jittered.
RETRY_BACKOFF = Backoff(duration=5.0, factor=2.0, max_duration=300.0)

# Reasons of a source problem (an Event says the source is unavailable).
SOURCE_REASONS = frozenset(
    {
        Reason.SOURCE_UNAVAILABLE,
        Reason.AUTHENTICATION_FAILED,
        Reason.HOST_KEY_MISMATCH,
        Reason.REPOSITORY_NOT_FOUND,
        Reason.REF_NOT_FOUND,
        Reason.FETCH_FAILED,
        Reason.SECRET_NOT_FOUND,
    }
)


class StepFailed(Exception):
    """A render, compare or sync step failed; ``problem`` says why, with a named reason."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def chart_mismatch(repo_type: RepoType, chart: str, repo: str) -> str | None:
    """Why ``source.chart`` does not suit the Repository's type, or None."""
    if chart and repo_type is RepoType.GIT:
        return (
            f"source.chart needs a helm or oci Repository; Repository {repo} is type git "
            "(for a chart in Git, set path to its folder)"
        )
    if not chart and repo_type is RepoType.HELM:
        return f"Repository {repo} is a helm repository: set source.chart to the chart's name"
    return None


def failure_problem(step: Reason, exc: BaseException) -> Problem:
    """The ``Problem`` for an exception raised by an engine step (the one mapping)."""
    reason = getattr(exc, "reason", None)
    if isinstance(exc, DuplicateObjectError):  # found by the render, before any compare
        reason = Reason.DUPLICATE_OBJECT
    if isinstance(exc, SourceError):  # a chart archive refused when unpacked for the render
        reason = classify_source(exc, str(exc)).reason
    if isinstance(reason, Reason):
        stalled = reason is Reason.NOT_PERMITTED  # only a Project or spec change helps
        return Problem(reason, REDACTOR.redact(str(exc)), stalled)
    if isinstance(exc, Forbidden):  # RBAC: retried with backoff, as a grant may come
        return Problem(Reason.PERMISSION_DENIED, REDACTOR.redact(str(exc)))
    text = str(exc) or type(exc).__name__
    if step is Reason.COMPARE_FAILED and not isinstance(exc, TetherError):
        text = f"{type(exc).__name__}: {text}"
    return Problem(step, REDACTOR.redact(text))


class FailureLog:
    """One log line when an app's failure starts or changes, one when it recovers."""

    def __init__(self) -> None:
        self._current: dict[Key, tuple[str, str, int]] = {}

    def failed(self, key: Key, problem: Problem) -> int:
        """Record a failure; returns how many reconciles in a row have failed."""
        reason, message = str(problem.reason), problem.message
        previous = self._current.get(key)
        streak = previous[2] + 1 if previous is not None else 1
        if previous is None or previous[:2] != (reason, message):
            log.warning("application %s/%s: %s: %s", *key, reason, message)
        self._current[key] = (reason, message, streak)
        return streak

    def cleared(self, key: Key) -> None:
        if self._current.pop(key, None) is not None:
            log.info("application %s/%s: recovered", *key)

    def forget(self, key: Key) -> None:
        self._current.pop(key, None)


def _kinds_from_status(app: Application) -> frozenset[GVK]:
    """The kinds the last status listed, so deletion watches every kind the app wrote."""
    resources = app.status.resources if app.status else ()
    return frozenset(GVK(r.group, r.version, r.kind) for r in resources if r.version)


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
    "AppPorts",
    "ApplicationController",
    "Neighbours",
    "Problem",
    "StepFailed",
    "failure_problem",
]
