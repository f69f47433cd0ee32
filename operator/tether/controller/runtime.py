"""The running operator's parts wired together: stores, queues, workers, controllers.

``Runtime`` owns one ``WakeQueue`` and worker pool per kind, the object stores
that the kopf handlers fill, and the two controllers. It decides from each watch
event whether the object needs a reconcile (a status-only change, which is our
own write coming back, does not), and maps Repositories to the apps that follow
them. ``run`` starts the workers and returns when asked to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from tether.api.application import Application
from tether.api.project import DEFAULT_PROJECT
from tether.appspec import spec_of
from tether.constants import REFRESH_ANNOTATION, SYNC_ANNOTATION
from tether.controller import triggers
from tether.controller.redact import REDACTOR
from tether.controller.store import ObjectStore, key_of
from tether.controller.triggers import Key, QueueClosed, WakeQueue
from tether.tenancy import ProjectBook

log = logging.getLogger(__name__)

Reconcile = Callable[[Key, frozenset[str]], Awaitable[None]]


def app_reasons(
    event_type: str | None, old: dict[str, Any] | None, new: dict[str, Any]
) -> set[str]:
    """Why a watch event on an Application should wake it; empty for status-only changes."""
    if event_type is None:
        return {triggers.RESUMED}
    if old is None or event_type == "ADDED":
        return {triggers.CREATED}
    reasons: set[str] = set()
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    if om.get("generation") != nm.get("generation"):
        reasons.add(triggers.SPEC_CHANGED)
    oa, na = om.get("annotations") or {}, nm.get("annotations") or {}
    if oa.get(REFRESH_ANNOTATION) != na.get(REFRESH_ANNOTATION) and na.get(REFRESH_ANNOTATION):
        reasons.add(triggers.REFRESH)
    if oa.get(SYNC_ANNOTATION) != na.get(SYNC_ANNOTATION) and na.get(SYNC_ANNOTATION):
        reasons.add(triggers.SYNC)
    if nm.get("deletionTimestamp") and not om.get("deletionTimestamp"):
        reasons.add(triggers.DELETING)
    return reasons


def repo_reasons(
    event_type: str | None, old: dict[str, Any] | None, new: dict[str, Any]
) -> set[str]:
    """Why a watch event on a Repository should wake it."""
    if event_type is None:
        return {triggers.RESUMED}
    if old is None or event_type == "ADDED":
        return {triggers.CREATED}
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    reasons: set[str] = set()
    if om.get("generation") != nm.get("generation"):
        reasons.add(triggers.SPEC_CHANGED)
    oa, na = om.get("annotations") or {}, nm.get("annotations") or {}
    if oa.get(REFRESH_ANNOTATION) != na.get(REFRESH_ANNOTATION) and na.get(REFRESH_ANNOTATION):
        reasons.add(triggers.REFRESH)
    return reasons


Follow = tuple[str | None, str]  # (Repository name or None for an inline URL, revision)


def followed(body: dict[str, Any]) -> tuple[Follow, ...]:
    """(Repository name or None, revision) of each source an Application body follows.

    One pair per source (several for ``spec.sources``), via its ``AppSpec``. A body
    that does not validate follows nothing: the controller reports why.
    """
    try:
        sources = spec_of(Application.model_validate(body)).all_sources
    except ValidationError:
        return ()
    return tuple((source.repository, source.followed) for source in sources)


def project_of(app: dict[str, Any]) -> str:
    return str((app.get("spec") or {}).get("project") or DEFAULT_PROJECT)


class Runtime:
    """Stores, queues and worker pools; the controllers plug in as reconcile functions."""

    def __init__(self, *, concurrency: int = 8, repo_concurrency: int = 2) -> None:
        self.apps = ObjectStore()
        self.repos = ObjectStore()
        self.projects = ProjectBook()
        self.app_queue = WakeQueue()
        self.repo_queue = WakeQueue()
        self.concurrency = max(1, concurrency)
        self.repo_concurrency = max(1, repo_concurrency)
        self.reconcile_app: Reconcile | None = None
        self.reconcile_repo: Reconcile | None = None
        self.idle = asyncio.Event()
        # Sharding: whether this replica reconciles the app (every app when alone).
        self.owns: Callable[[Key], bool] = lambda _key: True
        self.active = False  # workers running (the leader); a standby only watches
        # False for a shard: its peers reconcile Repositories too and must hear of a
        # webhook's refresh (through the annotation, which every replica watches).
        self.alone = True
        self._busy = 0
        # What each app follows, kept per generation: status writes (most events)
        # do not revalidate the body.
        self._follows: dict[Key, tuple[Any, tuple[Follow, ...]]] = {}

    # -- Repository <-> Application mapping ---------------------------------------------

    def follows(self, key: Key, body: dict[str, Any]) -> tuple[Follow, ...]:
        """(Repository, revision) of each source of the app ``key``; memoized per generation."""
        generation = (body.get("metadata") or {}).get("generation")
        memo = self._follows.get(key)
        if memo is not None and memo[0] == generation and generation is not None:
            return memo[1]
        found = followed(body)
        self._follows[key] = (generation, found)
        return found

    def wanted_revisions(self, repo: Key) -> set[str]:
        return {
            revision
            for key, body in self.apps.in_namespace(repo[0])
            for name, revision in self.follows(key, body)
            if name == repo[1]
        }

    def apps_following(self, repo: Key, revision: str | None) -> list[Key]:
        return [
            key
            for key, body in self.apps.in_namespace(repo[0])
            if any(
                name == repo[1] and (revision is None or wanted == revision)
                for name, wanted in self.follows(key, body)
            )
        ]

    def repos_using_secret(self, namespace: str, secret: str) -> list[Key]:
        out = []
        for key, body in self.repos.in_namespace(namespace):
            ref = (body.get("spec") or {}).get("secretRef") or {}
            if isinstance(ref, dict) and ref.get("name") == secret:
                out.append(key)
        return out

    # -- watch events (called by the kopf handlers) ---------------------------------------

    def on_app_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        key = key_of(body)
        if event_type == "DELETED":
            self.apps.remove(key)
            self._follows.pop(key, None)
            self.app_queue.wake(key, triggers.DELETING)
            return
        old = self.apps.head(key)  # what an event compares never includes the status
        before = self.follows(key, old) if old is not None else None
        self.apps.put(body)
        if self.owns(key):
            for reason in app_reasons(event_type, old, body):
                self.app_queue.wake(key, reason)
        after = self.follows(key, body)
        if before is not None and before != after:
            for name in {name for name, rev in after if name and (name, rev) not in before}:
                self.repo_queue.wake((key[0], name), triggers.DEPENDENCY)

    def on_project_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        """Record a Project; when what it allows changed, re-evaluate every app naming it."""
        name = str((body.get("metadata") or {}).get("name") or "")
        changed = self.projects.delete(name) if event_type == "DELETED" else self.projects.put(body)
        if changed:
            for key in self.apps_of_project(name):
                self.app_queue.wake(key, triggers.PROJECT)

    def apps_of_project(self, name: str) -> list[Key]:
        return [key for key, body in self.apps.items() if project_of(body) == name]

    def repo_url(self, key: Key) -> str:
        """The watched ``spec.url`` of Repository ``key`` ("" when not seen yet)."""
        body = self.repos.get(key) or {}
        return str((body.get("spec") or {}).get("url") or "")

    def on_repo_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        key = key_of(body)
        if event_type == "DELETED":
            self.repos.remove(key)
            self.repo_queue.wake(key, triggers.DELETING)
            for app in self.apps_following(key, None):
                self.app_queue.wake(app, triggers.DEPENDENCY)
            return
        old = self.repos.head(key)
        self.repos.put(body)
        for reason in repo_reasons(event_type, old, body):
            self.repo_queue.wake(key, reason)

    def on_secret_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        if event_type is None:
            return  # the initial listing: Repositories read Secrets when they run anyway
        namespace, name = key_of(body)
        for repo in self.repos_using_secret(namespace, name):
            self.repo_queue.wake(repo, triggers.DEPENDENCY)

    # -- workers ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run both worker pools until ``stop`` is set."""
        assert self.reconcile_app is not None and self.reconcile_repo is not None
        # With two or more, one app worker is express-only: a quick reconcile (a canary's
        # selfHeal) never waits behind a pool busy with heavy renders.
        workers = [
            asyncio.create_task(
                self._worker(self.app_queue, self.reconcile_app, "app", express=i == 1)
            )
            for i in range(self.concurrency)
        ] + [
            asyncio.create_task(self._worker(self.repo_queue, self.reconcile_repo, "repo"))
            for _ in range(self.repo_concurrency)
        ]
        self.active = True
        try:
            await stop.wait()
        finally:
            self.active = False
            self.app_queue.close()
            self.repo_queue.close()
            for task in workers:
                task.cancel()
            for task in workers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _worker(
        self, queue: WakeQueue, reconcile: Reconcile, kind: str, *, express: bool = False
    ) -> None:
        while True:
            try:
                key, reasons = await queue.get(express=express)
            except QueueClosed:
                return
            started = time.monotonic()
            self._busy += 1
            self.idle.clear()
            try:
                await reconcile(key, reasons)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the outermost loop: one line, then retry
                # Controllers map their own failures to status conditions; what lands
                # here (e.g. the status write itself failing) is logged without a
                # traceback, redacted, and retried.
                text = REDACTOR.redact(f"{type(exc).__name__}: {exc}")
                log.error("%s %s/%s: reconcile failed: %s; retrying in 5s", kind, *key, text)
                queue.wake_after(key, 5.0, triggers.RETRY)
            finally:
                queue.done(key, time.monotonic() - started)
                self._busy -= 1
                if self._busy == 0 and not len(self.app_queue) and not len(self.repo_queue):
                    self.idle.set()
