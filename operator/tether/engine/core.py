"""The ``Engine`` facade: one per process, composing the verbs of this package.

See the package docstring for the split; this module wires the parts and keeps
the public calls (``diff``, ``plan``, ``sync``, ``watch``, ``forget``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tether.appspec import AppSpec
from tether.engine.desired import Desired, DesiredSet
from tether.engine.differ import Differ
from tether.engine.live import LiveReader, Wanted
from tether.engine.model import DiffReport
from tether.engine.syncer import Syncer, plan_id, verdict_of
from tether.engine.verdicts import VerdictStore
from tether.identity import AppRef, ResourceKey, app_instance
from tether.kube.cache import CacheEvent, ResourceCache
from tether.kube.client import KubeClient
from tether.kube.discovery import Discovery
from tether.kube.openapi import OpenApiCache
from tether.kube.resource import GVK
from tether.plan import Plan
from tether.sync.executor import Persist, Progress
from tether.sync.state import SyncOperation
from tether.tenancy import Verdict, service_account_of

# How long the compare after a sync waits for the watch to bring what the sync wrote
# before it GETs the rest (the watch is usually there within milliseconds).
WRITE_WATCH_WAIT = 1.0

# Kinds watched for every app so that pruning finds objects of kinds the source dropped.
COMMON_KINDS: tuple[GVK, ...] = (
    GVK("", "v1", "ConfigMap"),
    GVK("", "v1", "Secret"),
    GVK("", "v1", "Service"),
    GVK("", "v1", "ServiceAccount"),
    GVK("apps", "v1", "Deployment"),
    GVK("apps", "v1", "StatefulSet"),
    GVK("apps", "v1", "DaemonSet"),
    GVK("batch", "v1", "Job"),
    GVK("batch", "v1", "CronJob"),
)


class Engine:
    """One per process: shared client, discovery, OpenAPI, cache and verdict store."""

    def __init__(
        self, client: KubeClient, *, field_manager: str = "tether", scoped_cache: bool = False
    ) -> None:
        self.client = client
        self.discovery = Discovery(client)
        self.openapi = OpenApiCache(client)
        # A shard caches only its own apps' objects (see ``kube.cache``, scoped).
        self.cache = ResourceCache(
            client, self.discovery, on_crd_change=self.openapi.invalidate, scoped=scoped_cache
        )
        self.field_manager = field_manager
        self.verdicts = VerdictStore()
        self.desired = Desired(self.discovery)
        self.live = LiveReader(
            client, self.discovery, self.cache, cache_holds_all_labelled=not scoped_cache
        )
        self.differ = Differ(
            self.discovery, self.openapi, self.verdicts, field_manager=field_manager
        )
        self.syncer = Syncer(self.discovery, self.differ, self.live, self.verdicts)
        # Per app, the keys its last sync wrote, until the watch cache holds them all.
        self._unseen_writes: dict[AppRef, frozenset[ResourceKey]] = {}

    @classmethod
    async def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> Engine:
        return cls(await KubeClient.connect(kubeconfig, context))

    async def close(self) -> None:
        await self.cache.close()
        await self.client.close()

    def client_for(self, app: AppSpec) -> KubeClient:
        """The client writing for ``app``: as its Project's ServiceAccount, or the one it
        names, always in the Application's own namespace (never the destination's)."""
        if app.project is not None:
            user = service_account_of(app.project, app.ref, app.service_account)
            return self.client.impersonate(user) if user else self.client
        if app.service_account:
            return self.client.impersonate_service_account(app.namespace, app.service_account)
        return self.client

    async def watch(self, app: AppSpec, gvks: Iterable[GVK] = ()) -> None:
        """Make the cache watch the kinds ``app`` manages (plus the common ones).

        Apps with ignore rules by field manager get their kinds cached with
        (compacted) managedFields.
        """
        wanted = {*gvks, *COMMON_KINDS, *app.extra_kinds}
        await self.cache.register(
            app.label, wanted, managed_fields=app.needs_managed_fields, timeout=60
        )

    async def forget(self, app: AppRef) -> None:
        """Stop watching for ``app`` and drop every memo and verdict kept for it."""
        await self.cache.unregister(app_instance(app))
        self.desired.forget(app)
        self.verdicts.forget(app)
        self._unseen_writes.pop(app, None)

    async def _live(
        self, app: AppSpec, desired: DesiredSet, *, fetch_missing: bool
    ) -> dict[ResourceKey, dict[str, Any]]:
        """Live objects for the desired keys, plus every other cached object of the app."""
        await self.watch(app, desired.gvks)
        live: dict[ResourceKey, dict[str, Any]] = {}
        cached = self.cache.get
        misses: list[Wanted] = []
        for key, obj in desired.objects:
            if fetch_missing and desired.hooks and key in desired.hooks:
                continue  # diff never compares hooks; the plan looks them up in the cache
            # The cache answers almost always; the misses go together (a LIST or GETs).
            found = cached((key.group, key.kind, key.namespace, key.name))
            if found is not None:
                live[key] = found
            else:
                misses.append((key, obj))
        if misses or (fetch_missing and app.ref in self._unseen_writes):
            fetched = await self._fetch(app, misses, fetch_missing=fetch_missing)
            if fetched:  # in the desired order, as the cache hits are
                live = {k: live.get(k) or fetched[k] for k, _ in desired.objects
                        if k in live or k in fetched}  # fmt: skip
        for cache_key in self.cache.keys(app.label) - desired.cache_keys:
            extra = self.cache.get(cache_key)
            if extra is not None:
                live.setdefault(ResourceKey(*cache_key), extra)
        return live

    async def _fetch(
        self, app: AppSpec, misses: list[Wanted], *, fetch_missing: bool
    ) -> dict[ResourceKey, dict[str, Any]]:
        """The cache's misses; the app's own recent writes the watch has not shown yet by GET.

        The other misses are absent or unlabelled, which a LIST of the unlabelled
        objects answers; an object this process just wrote carries the app label,
        and until the watch brings it only a GET sees it (else the compare right
        after a sync would call it missing).
        """
        unseen = self._unseen_writes.get(app.ref)
        if not fetch_missing or unseen is None:
            return await self.live.get_many(misses, fetch_missing=fetch_missing)
        ours = [miss for miss in misses if miss[0] in unseen]
        if not ours:
            del self._unseen_writes[app.ref]  # the watch has shown every write: LIST again
            return await self.live.get_many(misses, fetch_missing=True)
        others = [miss for miss in misses if miss[0] not in unseen]
        await self._watch_brings(app, ours)  # cheaper than a GET each, when it is quick
        fetched = await self.live.get_many(ours, fetch_missing=True, by_list=False)
        if others:
            fetched.update(await self.live.get_many(others, fetch_missing=True))
        return fetched

    async def _watch_brings(self, app: AppSpec, written: list[Wanted]) -> None:
        """Wait (``WRITE_WATCH_WAIT`` at most) for the watch to bring objects just written."""
        pending = {
            (key.group, key.kind, key.namespace, key.name)
            for key, obj in written
            if self.cache.is_synced(GVK.of(dict(obj)))
        }
        pending = {key for key in pending if not self.cache.holds(key)}
        if not pending:
            return
        arrived = asyncio.Event()

        def seen(event: CacheEvent) -> None:
            pending.discard(event.key)
            if not pending:
                arrived.set()

        unsubscribe = self.cache.subscribe(app.label, seen)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), WRITE_WATCH_WAIT)
        finally:
            unsubscribe()

    # -- verbs ----------------------------------------------------------------------------

    async def diff(
        self,
        app: AppSpec,
        rendered: Sequence[Mapping[str, Any]],
        *,
        revision: str = "",
        confirm: bool = True,
        sources: Sequence[str] = (),
    ) -> DiffReport:
        """Compare ``rendered`` with live.

        ``revision`` names the render (commit, path, parameters): with it, keying,
        stamping and hashing are memoized, so a repeated no-op diff does no tree
        walk. With ``confirm`` (the default) each non-empty local patch is checked
        with one server-side dry-run, and the answer is remembered. ``sources``
        names each rendered object's file, for error messages.
        """
        desired = await self.desired.of(app, rendered, revision, sources)
        live = await self._live(app, desired, fetch_missing=True)
        return await self.differ.diff(app, self.client_for(app), desired, live, confirm=confirm)

    async def plan(
        self,
        app: AppSpec,
        rendered: Sequence[Mapping[str, Any]],
        revision: str = "",
        *,
        prune: bool | None = None,
        input_failed: bool = False,
        sources: Sequence[str] = (),
    ) -> tuple[Plan, list[str]]:
        plan, desired = await self._plan(
            app, rendered, revision, prune=prune, input_failed=input_failed, sources=sources
        )
        return plan, list(desired.errors)

    async def _plan(
        self,
        app: AppSpec,
        rendered: Sequence[Mapping[str, Any]],
        revision: str = "",
        *,
        prune: bool | None = None,
        input_failed: bool = False,
        sources: Sequence[str] = (),
        render_id: str = "",
    ) -> tuple[Plan, DesiredSet]:
        desired = await self.desired.of(app, rendered, render_id, sources)
        live = await self._live(app, desired, fetch_missing=False)
        plan = self.syncer.plan(
            app, desired, live, revision, prune=prune, input_failed=input_failed
        )
        return plan, desired

    async def permitted(
        self,
        app: AppSpec,
        rendered: Sequence[Mapping[str, Any]],
        sources: Sequence[str] = (),
        *,
        prune: bool | None = None,
        render_id: str = "",
    ) -> Verdict | None:
        """What the app's Project says of everything a sync would do now (None: no Project).

        Builds the same plan a sync would (hooks of every phase, prunes, CreateNamespace)
        and checks every task, with ``sources`` (parallel to ``rendered``) naming files.
        ``render_id`` shares the diff's memo of the keyed render.
        """
        if app.project is None:
            return None
        plan, desired = await self._plan(
            app, rendered, prune=prune, sources=sources, render_id=render_id
        )
        return verdict_of(app, plan, desired.files)

    async def sync(
        self,
        app: AppSpec,
        rendered: Sequence[Mapping[str, Any]],
        *,
        revision: str = "",
        state: SyncOperation | None = None,
        persist: Persist | None = None,
        dry_run: bool = False,
        prune: bool | None = None,
        server_side: bool = False,
        progress: Progress | None = None,
        sources: Sequence[str] = (),
    ) -> SyncOperation:
        """Sync once and return the final state.

        Retrying a failed sync is the caller's decision (the operator's sync
        policy); a saved ``state`` of the same plan is resumed.
        """
        plan, desired = await self._plan(app, rendered, revision, prune=prune, sources=sources)
        state = await self.syncer.sync(
            app,
            self.client_for(app),
            plan,
            list(desired.errors),
            plan_id(app, rendered, revision),
            revision,
            state=state,
            persist=persist or (lambda _s: None),
            dry_run=dry_run,
            server_side=server_side,
            progress=progress,
            files=desired.files,
        )
        written = frozenset(c.key for c in state.changes.entries if c.written is not None)
        if written and not dry_run:
            self._unseen_writes[app.ref] = written
        return state


__all__ = ["COMMON_KINDS", "Engine"]
