"""The Repository controller: resolve the revisions apps follow, report, tell apps.

A git Repository resolves through the Git cache; a helm or oci Repository
through ``tether.sources`` (the ``ChartSource`` port), each followed key being
``chart@revision`` (or a bare revision for an OCI artifact at the URL itself)
and resolving to ``<version>@sha256:<digest>``.

One reconcile of a Repository reads its Secret (if any), resolves every
revision that an Application referencing it follows, writes the status (at
most one PATCH) and wakes the apps whose revision moved. It runs at once on
spec changes, Secret changes, a new ``tether.dev/refresh`` annotation (the
handlers wake it) and a verified push webhook (``controller.webhooks``), when an app asks for a revision not yet resolved, and on its
interval with jitter.

The Git cache serves a cached commit to this Repository only while its own
credentials were accepted by the server within its interval; a refresh asks
for a new proof at once (``max_age`` 0).

The resolved revisions are also kept in memory (``state``): apps read their
commit from here, so a hundred apps on one repository cost one ``ls-remote``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from tether.api import conditions as cond
from tether.api.conditions import Reason
from tether.api.repository import Repository
from tether.api.types import utc_now
from tether.controller import events as ev
from tether.controller import triggers
from tether.controller.metrics import Metrics
from tether.controller.ports import ChartSource, GitSource, RepoAccess, SourceCommit
from tether.controller.redact import REDACTOR
from tether.controller.status import StatusWriter
from tether.controller.store import ObjectStore
from tether.controller.triggers import Key, WakeQueue
from tether.git import errors as gerr
from tether.git.auth import GitAuth
from tether.sources import Access, Credentials, RepoType
from tether.sources import errors as serr
from tether.sources.dependencies import DeclaredRepository
from tether.sources.fetch import source_request, split_key
from tether.writeback.gitwrite import signing_key_of

log = logging.getLogger(__name__)

# A fetch that changed nothing does not write lastFetchTime more often than this,
# so an idle operator makes no writes for many intervals in a row.
FETCH_TIME_REFRESH = timedelta(minutes=30)


class SecretReader(Protocol):
    async def read(self, namespace: str, name: str) -> Mapping[str, bytes] | None:
        """The decoded data of a Secret, or None when it does not exist."""
        ...


class SecretMissing(Exception):
    """The referenced Secret does not exist."""


@dataclass(frozen=True)
class Failure:
    reason: str
    message: str
    stalled: bool = False


def classify(exc: BaseException) -> Failure:
    """The condition reason for a Git failure; Stalled when retrying alone will not help."""
    text = REDACTOR.redact(str(exc))
    if isinstance(exc, gerr.AuthenticationError):
        return Failure(Reason.AUTHENTICATION_FAILED, text, stalled=True)
    if isinstance(exc, gerr.HostKeyError):
        return Failure(Reason.HOST_KEY_MISMATCH, text, stalled=True)
    if isinstance(exc, gerr.RepositoryNotFoundError):
        return Failure(Reason.REPOSITORY_NOT_FOUND, text, stalled=True)
    if isinstance(exc, gerr.InsecureURLError):
        return Failure(Reason.INVALID_SPEC, text, stalled=True)
    if isinstance(exc, gerr.RefNotFoundError | gerr.InvalidRevisionError):
        return Failure(Reason.REF_NOT_FOUND, text)
    if isinstance(exc, SecretMissing):
        return Failure(Reason.SECRET_NOT_FOUND, text, stalled=True)
    if isinstance(exc, gerr.GitError):
        return Failure(Reason.FETCH_FAILED, text)
    if isinstance(exc, serr.SourceError):
        return classify_source(exc, text)
    return Failure(Reason.FETCH_FAILED, f"{type(exc).__name__}: {text}")


_SOURCE_REASONS: tuple[tuple[type[serr.SourceError], Reason, bool], ...] = (
    (serr.SourceAuthError, Reason.AUTHENTICATION_FAILED, True),
    (serr.InsecureSourceError, Reason.INVALID_SPEC, True),
    (serr.SourceNotFoundError, Reason.NOT_FOUND, False),
    (serr.VersionNotFoundError, Reason.REF_NOT_FOUND, False),
    (serr.DigestMismatchError, Reason.DIGEST_MISMATCH, False),
    (serr.ArchiveError, Reason.INVALID_ARTIFACT, False),
    (serr.UnsupportedArtifactError, Reason.INVALID_ARTIFACT, False),
)


def classify_source(exc: serr.SourceError, text: str) -> Failure:
    """The condition reason for a Helm repository or OCI registry failure."""
    for kind, reason, stalled in _SOURCE_REASONS:
        if isinstance(exc, kind):
            return Failure(reason, text, stalled=stalled)
    return Failure(Reason.FETCH_FAILED, text)
    return Failure(Reason.FETCH_FAILED, f"{type(exc).__name__}: {text}")


@dataclass(frozen=True)
class RepoState:
    """What apps need to know about a Repository right now."""

    generation: int | None
    url: str
    resolved: Mapping[str, SourceCommit] = field(default_factory=dict)
    type: RepoType = RepoType.GIT
    errors: Mapping[str, Failure] = field(default_factory=dict)
    failure: Failure | None = None  # the whole repository failed (auth, secret, spec)
    # What write-back pushes with: the same credentials, never shown (GitAuth's repr
    # hides them), and the Secret's optional signingKey.
    access: RepoAccess | None = field(default=None, repr=False, compare=False)

    def lookup(self, revision: str) -> SourceCommit | None:
        return self.resolved.get(revision)

    def headline(self) -> Failure | None:
        """The failure the status reports: the whole repository's, else the first revision's."""
        if self.failure is not None or not self.errors:
            return self.failure
        return sorted(self.errors.items())[0][1]

    def problem(self, revision: str) -> Failure | None:
        return self.failure or self.errors.get(revision)


WantedRevisions = Callable[[Key], set[str]]
AppsFollowing = Callable[[Key, str | None], list[Key]]
"""Apps of a Repository following a revision (None: all of them)."""


class RepositoryController:
    """Reconciles Repositories; see the module docstring."""

    def __init__(
        self,
        *,
        store: ObjectStore,
        git: GitSource,
        secrets: SecretReader,
        writer: StatusWriter,
        queue: WakeQueue,
        events: ev.EventRecorder,
        metrics: Metrics,
        wanted: WantedRevisions,
        following: AppsFollowing,
        wake_app: Callable[[Key, str], None],
        charts: ChartSource | None = None,
    ) -> None:
        self.store = store
        self.git = git
        self.charts = charts
        self.secrets = secrets
        self.writer = writer
        self.queue = queue
        self.events = events
        self.metrics = metrics
        self.wanted = wanted
        self.following = following
        self.wake_app = wake_app
        self._states: dict[Key, RepoState] = {}
        self._failures: dict[Key, int] = {}

    def state(self, key: Key) -> RepoState | None:
        return self._states.get(key)

    def forget(self, key: Key) -> None:
        self._states.pop(key, None)
        self._failures.pop(key, None)
        self.writer.forget(key)
        self.queue.forget(key)

    async def reconcile(self, key: Key, reasons: frozenset[str]) -> None:
        body = self.store.get(key)
        if body is None:
            self.forget(key)
            return
        started = time.perf_counter()
        try:
            # A webhook is a refresh: the server says the ref moved, prove and fetch now.
            force = bool(reasons & {triggers.REFRESH, triggers.WEBHOOK})
            await self._reconcile(key, body, force=force)
        finally:
            self.metrics.observe_reconcile("Repository", time.perf_counter() - started)

    async def _reconcile(self, key: Key, body: dict[str, Any], *, force: bool) -> None:
        generation = (body.get("metadata") or {}).get("generation")
        observed = body.get("status") or {}
        refresh = ((body.get("metadata") or {}).get("annotations") or {}).get(
            triggers.REFRESH_ANNOTATION, ""
        )
        force = force or (bool(refresh) and refresh != observed.get("lastHandledRefresh"))
        try:
            repo = Repository.model_validate(body)
        except ValidationError as exc:
            failure = Failure(Reason.INVALID_SPEC, _validation_message(exc), stalled=True)
            self._states[key] = RepoState(generation, "", failure=failure)
            await self._write(key, observed, generation, RepoState(generation, "", failure=failure))
            return
        previous = self._states.get(key)
        state = await self._resolve_all(key, repo, previous, force=force)
        self._states[key] = state
        _log_change(key, previous, state)
        await self._write(key, observed, generation, state, refresh=refresh)
        if state.failure is not None:
            await self.events.warning(
                ev.InvolvedObject.of(body), ev.FETCH_FAILED, state.failure.message
            )
        self._tell_apps(key, previous, state)
        self._schedule(key, repo, state)

    async def _resolve_all(
        self, key: Key, repo: Repository, previous: RepoState | None, *, force: bool
    ) -> RepoState:
        generation = repo.metadata.generation
        spec = repo.spec
        kind = RepoType(spec.type)
        try:
            auth, signing_key = await self._auth(key, repo)
            access = await self._access(key, repo, auth) if kind is not RepoType.GIT else None
        except Exception as exc:
            return RepoState(generation, spec.url, failure=classify(exc), type=kind)
        pushes = RepoAccess(
            spec.url, auth, spec.insecure, spec.timeout_seconds, signing_key=signing_key
        )
        wanted = sorted(self.wanted(key))
        revisions = wanted or (["HEAD"] if kind is RepoType.GIT else [])
        if not wanted and access is not None and self.charts is not None:
            try:  # nothing to resolve: still prove the URL and credentials work
                await self.charts.probe(source_request(spec.type, spec.url, "", ""), access)
            except Exception as exc:
                return RepoState(generation, spec.url, failure=classify(exc), type=kind)
        started = time.perf_counter()
        results = await asyncio.gather(
            *(self._resolve_one(repo, rev, auth, access, force=force) for rev in revisions),
            return_exceptions=True,
        )
        self.metrics.observe_git_fetch(time.perf_counter() - started)
        resolved: dict[str, SourceCommit] = {}
        errors: dict[str, Failure] = {}
        for rev, result in zip(revisions, results, strict=True):
            if isinstance(result, SourceCommit):
                resolved[rev] = result
            elif isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                errors[rev] = classify(result)
        # Whole-repository failures (auth, missing repo) fail every revision alike.
        stalled = [f for f in errors.values() if f.stalled]
        if stalled and not resolved:
            return RepoState(generation, spec.url, failure=stalled[0], type=kind, access=pushes)
        if previous is not None and previous.url == spec.url:
            # Keep last good commits for revisions that failed transiently: never make an
            # app lose its source (and prune) because the server hiccupped.
            for rev, old in previous.resolved.items():
                if rev in errors and rev not in resolved:
                    resolved[rev] = old
        return RepoState(
            generation, spec.url, resolved=resolved, errors=errors, type=kind, access=pushes
        )

    async def _resolve_one(
        self,
        repo: Repository,
        key: str,
        auth: GitAuth | None,
        access: Access | None,
        *,
        force: bool,
    ) -> SourceCommit:
        spec = repo.spec
        if access is None:
            return await self.git.resolve(
                spec.url,
                key,
                auth=auth,
                insecure=spec.insecure,
                timeout=spec.timeout_seconds,
                max_age=0.0 if force else spec.interval_seconds,
            )
        if self.charts is None:
            raise serr.SourceError(f"{spec.type} Repositories are not served by this operator")
        return await self.charts.resolve(
            key, source_request(spec.type, spec.url, *split_key(key)), access
        )

    async def declared(self, namespace: str) -> list[DeclaredRepository]:
        """The namespace's helm and oci Repositories, with their access, for chart dependencies.

        One whose Secret cannot be read is left out: the dependency is then refused
        by the renderer, and the Repository's own status says what is wrong.
        """
        out: list[DeclaredRepository] = []
        for key, body in self.store.in_namespace(namespace):
            try:
                repo = Repository.model_validate(body)
                if repo.spec.type == "git":
                    continue
                auth, _ = await self._auth(key, repo)
                access = await self._access(key, repo, auth)
            except (ValidationError, SecretMissing, gerr.GitError):
                continue
            out.append(DeclaredRepository(key[1], RepoType(repo.spec.type), repo.spec.url, access))
        return out

    async def _access(self, key: Key, repo: Repository, auth: GitAuth | None) -> Access:
        """Credentials, CA bundle, insecure and timeout for a helm or oci Repository."""
        spec = repo.spec
        ca = spec.ca_bundle or ""
        if spec.secret_ref is not None:
            data = await self.secrets.read(key[0], spec.secret_ref.name) or {}
            extra = data.get("ca.crt")
            if extra:
                ca = (
                    f"{ca}\n{extra.decode(errors='replace')}"
                    if ca
                    else extra.decode("utf-8", "replace")
                )
        credentials = Credentials()
        if auth is not None:
            credentials = Credentials(auth.username, auth.password, auth.bearer_token)
        return Access(credentials, ca or None, spec.insecure, spec.timeout_seconds)

    async def _auth(self, key: Key, repo: Repository) -> tuple[GitAuth | None, bytes | None]:
        """The Secret's credentials, and its write-back signing key (``signingKey``)."""
        ref = repo.spec.secret_ref
        if ref is None:
            return None, None
        found = await self.secrets.read(key[0], ref.name)
        if found is None:
            raise SecretMissing(f"Secret {key[0]}/{ref.name} named in secretRef does not exist")
        data = dict(found)
        REDACTOR.add(*data.values())
        signing_key = signing_key_of(data)
        try:
            return GitAuth.from_mapping(data), signing_key
        except gerr.AuthenticationError as exc:  # names keys only, never values
            raise gerr.AuthenticationError(f"Secret {key[0]}/{ref.name}: {exc.message}") from None

    def _tell_apps(self, key: Key, previous: RepoState | None, state: RepoState) -> None:
        woken: set[Key] = set()
        for rev, now in state.resolved.items():
            before = previous.resolved.get(rev) if previous is not None else None
            if before is None or before.commit != now.commit:
                for app in self.following(key, rev):
                    self.wake_app(app, triggers.REVISION_MOVED)
                    woken.add(app)
        before_problems = (previous.failure, dict(previous.errors)) if previous else (None, {})
        if before_problems != (state.failure, dict(state.errors)):
            # Apps report the source problem (or its end) in their own status.
            for app in self.following(key, None):
                if app not in woken:
                    self.wake_app(app, triggers.DEPENDENCY)

    def _schedule(self, key: Key, repo: Repository, state: RepoState) -> None:
        interval = repo.spec.interval_seconds
        if state.failure is not None or state.errors:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            delay = min(interval, triggers.backoff(failures, base=2.0, cap=interval))
        else:
            self._failures.pop(key, None)
            delay = triggers.jittered(interval)
        self.queue.wake_after(key, delay, triggers.INTERVAL)

    async def _write(
        self,
        key: Key,
        observed: dict[str, Any],
        generation: int | None,
        state: RepoState,
        *,
        refresh: str = "",
    ) -> None:
        base = self.writer.last(key, observed)
        status = build_status(base, generation, state, now=utc_now(), refresh=refresh)
        await self.writer.write(key, status, observed)


def build_status(
    previous: dict[str, Any],
    generation: int | None,
    state: RepoState,
    *,
    now: datetime,
    refresh: str = "",
) -> dict[str, Any]:
    """The Repository status for ``state``; unchanged parts stay equal to ``previous``."""
    old_conditions = [
        cond.Condition.model_validate(c) for c in previous.get("conditions") or () if _ok(c)
    ]
    failure = state.headline()
    if failure is None:
        revs = ", ".join(f"{r.revision}={_short(r)}" for r in state.resolved.values())
        text = f"resolved {revs}" if revs else "reachable; no Application follows it yet"
        conditions = cond.mark_ready(
            old_conditions, Reason.SUCCEEDED, text, generation=generation, now=now
        )
    elif failure.stalled:
        conditions = cond.mark_stalled(
            old_conditions, failure.reason, failure.message, generation=generation, now=now
        )
    else:
        conditions = cond.mark_not_ready(
            old_conditions, failure.reason, failure.message, generation=generation, now=now
        )
    revisions = [
        {"revision": rev, "resolved": r.display} for rev, r in sorted(state.resolved.items())
    ]
    status: dict[str, Any] = {
        "conditions": [c.to_dict() for c in conditions],
        "observedGeneration": generation,
        "revisions": revisions,
    }
    if generation is None:
        status.pop("observedGeneration")
    if refresh or previous.get("lastHandledRefresh"):
        status["lastHandledRefresh"] = refresh or previous["lastHandledRefresh"]
    last_fetch = previous.get("lastFetchTime")
    moved = (
        previous.get("revisions") != revisions or previous.get("conditions") != status["conditions"]
    )
    if moved or last_fetch is None or _older_than(last_fetch, now, FETCH_TIME_REFRESH):
        status["lastFetchTime"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        status["lastFetchTime"] = last_fetch
    return status


def _short(resolved: SourceCommit) -> str:
    """A commit's first 12 hex digits, or a chart's ``version@sha256:<12 hex>``."""
    if resolved.artifact is not None:
        digest = resolved.artifact.digest.removeprefix("sha256:")[:12]
        return f"{resolved.artifact.version}@sha256:{digest}"
    return resolved.commit[:12]


def _log_change(key: Key, previous: RepoState | None, state: RepoState) -> None:
    """One log line when fetching starts failing, fails differently or works again.

    Not one per retry: a server that stays down is in the status and the Event, and
    the log says only when that changed.
    """
    before = previous.headline() if previous is not None else None
    now = state.headline()
    if now == before:
        return
    if now is None:
        log.info("Repository %s/%s: fetching works again", *key)
    else:
        log.warning("Repository %s/%s: %s: %s", *key, now.reason, now.message)


def _ok(raw: Any) -> bool:
    try:
        cond.Condition.model_validate(raw)
    except ValidationError:
        return False
    return True


def _older_than(stamp: str, now: datetime, age: timedelta) -> bool:
    try:
        then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return True
    return now - then >= age


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "invalid spec: " + "; ".join(parts)
