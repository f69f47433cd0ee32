"""The one process-wide list+watch cache of the objects Tether manages.

* Watches only the kinds some app registered, cluster-wide, with the label
  selector ``tether.dev/app`` (exists). One watch per (group, kind), shared by
  every app; started when the first app needs the kind, stopped when the last
  one leaves.
* Lists, then watches from the list's resourceVersion with bookmarks; re-lists
  on 410 Gone; on a dropped connection or a server outage, backs off
  (0.2 s doubling to 5 s) and re-lists, emitting events for whatever changed
  meanwhile.
* A kind that the server does not serve yet (CRD not created) waits: a watch on
  CustomResourceDefinitions invalidates discovery and wakes it, so new CRDs are
  picked up without a restart.
* Stored objects are lean: ``managedFields`` are dropped, or kept in a compact
  form (manager, operation, fieldsV1) for kinds registered with
  ``managed_fields=True`` (ignoreDifferences by manager). Each is held packed
  (``tether.packed``, about a sixth of its size as dicts) next to the three
  fields the watch loop compares (resourceVersion, app label, whether
  managedFields are kept); ``get`` and ``objects`` decode a fresh copy on each
  call (about 10 us per object), so a caller may change what it got.
* A list or watch the server refuses (401/403) is not waited out: ``wait_synced``
  raises the server's error at once (it names the verb, the resource and the
  user), so the app gets a condition instead of a silent timeout. A refused watch
  stays reported after later lists succeed, until the server streams the watch. The watch keeps
  retrying with backoff and recovers when RBAC allows it; the log says so once
  when a watch starts failing or its error changes, not on every retry.
* Indexed by app label value and by object key ``(group, kind, namespace, name)``.
* Scoped (``scoped=True``, one shard of several): the watches still list and
  follow every labelled object of a kind, but only the objects of registered
  apps are kept; an app registered after its kinds were listed gets its own
  objects by one list per kind filtered by its label value, and an app that
  unregisters takes its objects with it. So a replica holds the objects of its
  own apps only.
* Subscribers (per app label) are called synchronously with a ``CacheEvent``
  as each watch event is applied; they must be cheap (set an event, put on a
  queue).

Stops at keeping the objects; deciding drift is the engine's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tether.constants import APP_LABEL
from tether.kube.client import KubeClient
from tether.kube.discovery import Discovery
from tether.kube.errors import Forbidden, Gone, KubeError, NotFound, Unauthorized, UnknownKind
from tether.kube.resource import GVK, ApiResource
from tether.objects import resource_version
from tether.packed import Packed, pack, unpack

log = logging.getLogger(__name__)

ObjKey = tuple[str, str, str, str]  # group, kind, namespace, name
GroupKind = tuple[str, str]
CRD_GVK = GVK("apiextensions.k8s.io", "v1", "CustomResourceDefinition")


@dataclass(frozen=True)
class CacheEvent:
    """One change seen by the cache. ``obj`` is None for DELETED."""

    type: str
    key: ObjKey
    app: str
    obj: dict[str, Any] | None
    seen_at: float


Subscriber = Callable[[CacheEvent], None]


@dataclass(frozen=True)
class CacheStats:
    objects: int
    watches: int
    approx_bytes: int
    relists: int


def object_key(obj: dict[str, Any]) -> ObjKey:
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion") or "").rpartition("/")[0]
    return (group, str(obj.get("kind") or ""), meta.get("namespace") or "", meta.get("name") or "")


def slim(obj: dict[str, Any], *, keep_managed_fields: bool) -> dict[str, Any]:
    """Drop what the engine never reads; compact managedFields when they are kept."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        fields = meta.pop("managedFields", None)
        if keep_managed_fields and fields:
            meta["managedFields"] = [
                {
                    k: entry[k]
                    for k in ("manager", "operation", "subresource", "fieldsV1")
                    if k in entry
                }
                for entry in fields
            ]
    return obj


class _Cached:
    """One cached object: packed, with what the watch loop compares kept decoded."""

    __slots__ = ("app", "has_fields", "packed", "resource_version")

    def __init__(self, obj: dict[str, Any], app: str) -> None:
        self.resource_version = resource_version(obj)
        self.app = app
        self.has_fields = _has_fields(obj)
        self.packed: Packed = pack(obj)


@dataclass
class _Watch:
    gvk: GVK
    apps: set[str] = field(default_factory=set)
    managed_fields: bool = False
    task: asyncio.Task[None] | None = None
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    resource: ApiResource | None = None
    last_error: str = ""
    # Set while the server refuses this watch (401/403); wakes ``wait_synced``.
    refused: KubeError | None = None
    refused_event: asyncio.Event = field(default_factory=asyncio.Event)


class ResourceCache:
    """Shared list+watch cache; see the module docstring for the contract."""

    def __init__(
        self,
        client: KubeClient,
        discovery: Discovery,
        *,
        label: str = APP_LABEL,
        on_crd_change: Callable[[], None] | None = None,
        watch_timeout: int = 290,
        scoped: bool = False,
    ) -> None:
        self._client = client
        self._scoped = scoped
        self._discovery = discovery
        self._label = label
        self._on_crd_change = on_crd_change
        self._watch_timeout = watch_timeout
        self._watches: dict[GroupKind, _Watch] = {}
        self._objects: dict[ObjKey, _Cached] = {}
        self._by_app: dict[str, set[ObjKey]] = {}
        self._by_gk: dict[GroupKind, set[ObjKey]] = {}
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._global: list[Subscriber] = []
        self._interest: dict[str, set[GroupKind]] = {}
        self._crd_changed = asyncio.Event()
        self._crd_task: asyncio.Task[None] | None = None
        self._relists = 0
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Start the CRD watch that refreshes discovery (idempotent)."""
        if self._crd_task is None:
            self._crd_task = asyncio.create_task(self._watch_crds(), name="tether-cache-crds")

    async def close(self) -> None:
        self._closed = True
        tasks = [w.task for w in self._watches.values() if w.task]
        if self._crd_task:
            tasks.append(self._crd_task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._watches.clear()

    # -- interest ------------------------------------------------------------------

    async def register(
        self,
        app: str,
        gvks: Iterable[GVK],
        *,
        managed_fields: bool = False,
        wait: bool = True,
        timeout: float = 30.0,
    ) -> None:
        """Declare the kinds ``app`` manages; start watches; optionally wait for their lists.

        Kinds no longer listed stop being watched for this app. Kinds the server
        does not serve yet are not waited for; they start when their CRD appears.
        """
        self.start()
        wanted = {(g.group, g.kind): g for g in gvks}
        old = self._interest.get(app, set())
        self._interest[app] = set(wanted)
        for gk in old - set(wanted):
            self._release(app, gk)
        listed: list[_Watch] = []  # scoped: watches that listed before this app came
        for gk, gvk in wanted.items():
            watch = self._watches.get(gk)
            if self._scoped and watch is not None and gk not in old and watch.synced.is_set():
                listed.append(watch)
            if watch is None:
                watch = _Watch(gvk, managed_fields=managed_fields)
                self._watches[gk] = watch
                watch.task = asyncio.create_task(self._run(watch), name=f"tether-watch-{gvk}")
            elif managed_fields and not watch.managed_fields:
                watch.managed_fields = True
                self._restart(watch)
            watch.apps.add(app)
        for watch in listed:
            await self._fill(app, watch)
        if wait:
            await self.wait_synced(list(wanted.values()), timeout=timeout)

    async def _fill(self, app: str, watch: _Watch) -> None:
        """Scoped: list ``app``'s objects of a kind whose watch listed before it came.

        An object the watch delivered meanwhile is newer than the list and stays. A
        failed list re-lists the whole kind instead, so no object is missed.
        """
        if watch.resource is None:
            return
        try:
            items, _ = await self._client.list_all(
                watch.resource, label_selector=f"{self._label}={app}"
            )
        except KubeError:
            self._restart(watch)
            return
        for item in items:
            item.setdefault("apiVersion", watch.resource.api_version)
            item.setdefault("kind", watch.gvk.kind)
            if object_key(item) not in self._objects:
                self._store(slim(item, keep_managed_fields=watch.managed_fields))

    async def unregister(self, app: str) -> None:
        for gk in self._interest.pop(app, set()):
            self._release(app, gk)
        self._subscribers.pop(app, None)
        if self._scoped:  # a shard keeps the objects of its own apps only
            for key in list(self._by_app.pop(app, ())):
                self._forget(key)

    def _release(self, app: str, gk: GroupKind) -> None:
        watch = self._watches.get(gk)
        if watch is None:
            return
        watch.apps.discard(app)
        if not watch.apps:
            if watch.task:
                watch.task.cancel()
            del self._watches[gk]
            for key in list(self._by_gk.get(gk, ())):
                self._forget(key)
            self._by_gk.pop(gk, None)

    def _restart(self, watch: _Watch) -> None:
        if watch.task:
            watch.task.cancel()
        watch.synced = asyncio.Event()  # waiters must see the new list, not the old one
        watch.task = asyncio.create_task(self._run(watch), name=f"tether-watch-{watch.gvk}")

    async def wait_synced(self, gvks: Iterable[GVK], *, timeout: float = 30.0) -> None:
        """Wait until each served kind has been listed once (unserved kinds are skipped).

        Raises the server's ``Forbidden``/``Unauthorized`` at once for a kind whose
        list or watch it refuses.
        """
        watches = []
        for gvk in gvks:
            watch = self._watches.get((gvk.group, gvk.kind))
            if watch is None or (watch.synced.is_set() and watch.refused is None):
                continue
            with contextlib.suppress(UnknownKind):
                await self._discovery.resource(gvk)
                watches.append(watch)
        if watches:
            await asyncio.wait_for(self._synced_or_refused(watches), timeout)

    async def _synced_or_refused(self, watches: list[_Watch]) -> None:
        for watch in watches:
            if watch.refused is not None:
                raise watch.refused
            synced = asyncio.ensure_future(watch.synced.wait())
            refused = asyncio.ensure_future(watch.refused_event.wait())
            try:
                await asyncio.wait({synced, refused}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                synced.cancel()
                refused.cancel()
            if not watch.synced.is_set() and watch.refused is not None:
                raise watch.refused

    def is_synced(self, gvk: GVK) -> bool:
        watch = self._watches.get((gvk.group, gvk.kind))
        return bool(watch and watch.synced.is_set())

    # -- subscribers -----------------------------------------------------------------

    def subscribe(self, app: str | None, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` for every change to ``app``'s objects (None: all). Returns unsubscribe."""
        target = self._global if app is None else self._subscribers.setdefault(app, [])
        target.append(subscriber)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                target.remove(subscriber)

        return unsubscribe

    # -- reads ------------------------------------------------------------------------

    def get(self, key: ObjKey) -> dict[str, Any] | None:
        """A fresh copy of the cached object at ``key`` (None when not cached)."""
        cached = self._objects.get(key)
        if cached is None:
            return None
        obj: dict[str, Any] = unpack(cached.packed)
        return obj

    def holds(self, key: ObjKey) -> bool:
        """Whether an object is cached at ``key`` (without decoding it, as ``get`` does)."""
        return key in self._objects

    def objects(self, app: str) -> list[dict[str, Any]]:
        objects = self._objects
        return [unpack(objects[k].packed) for k in self._by_app.get(app, ()) if k in objects]

    def keys(self, app: str) -> set[ObjKey]:
        return set(self._by_app.get(app, ()))

    def object_count(self) -> int:
        """How many objects are cached (cheap; ``stats`` also measures their size)."""
        return len(self._objects)

    def stats(self) -> CacheStats:
        """Counts; ``approx_bytes`` is what the packed objects hold."""
        size = sum(len(cached.packed) for cached in self._objects.values())
        return CacheStats(len(self._objects), len(self._watches), size, self._relists)

    # -- store --------------------------------------------------------------------------

    def _app_of(self, obj: dict[str, Any] | None) -> str:
        if not obj:
            return ""
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return str(labels.get(self._label, ""))

    def _store(self, obj: dict[str, Any], kind: str = "") -> None:
        key = object_key(obj)
        old = self._objects.get(key)
        if (
            old is not None
            and old.resource_version == resource_version(obj)
            and old.has_fields == _has_fields(obj)
        ):
            return
        old_app = old.app if old is not None else ""
        new_app = self._app_of(obj)
        if self._scoped and new_app not in self._interest:
            self._forget(key, notify=True)  # another shard's app (or it moved there)
            return
        self._objects[key] = _Cached(obj, new_app)
        self._by_gk.setdefault(key[:2], set()).add(key)
        if old_app and old_app != new_app:
            self._by_app.get(old_app, set()).discard(key)
            self._emit(CacheEvent("DELETED", key, old_app, None, time.monotonic()))
        if new_app:
            self._by_app.setdefault(new_app, set()).add(key)
        event_type = kind or ("ADDED" if old is None else "MODIFIED")
        self._emit(CacheEvent(event_type, key, new_app, obj, time.monotonic()))

    def _forget(self, key: ObjKey, *, notify: bool = False) -> None:
        old = self._objects.pop(key, None)
        if old is None:
            return
        app = old.app
        if app:
            self._by_app.get(app, set()).discard(key)
        gk_keys = self._by_gk.get(key[:2])
        if gk_keys is not None:
            gk_keys.discard(key)
        if notify:
            self._emit(CacheEvent("DELETED", key, app, None, time.monotonic()))

    def _emit(self, event: CacheEvent) -> None:
        for sub in (*self._subscribers.get(event.app, ()), *self._global):
            try:
                sub(event)
            except Exception:  # a broken subscriber must not stop the watch
                log.exception("cache subscriber failed for %s", event.key)

    # -- watch loops ----------------------------------------------------------------------

    async def _run(self, watch: _Watch) -> None:
        backoff = 0.2
        while not self._closed:
            try:
                watch.resource = await self._discovery.resource(watch.gvk)
                rv = await self._relist(watch)
                backoff = 0.2
                await self._follow(watch, rv)
            except asyncio.CancelledError:
                raise
            except Gone:
                self._relists += 1
                continue
            except UnknownKind as exc:
                watch.last_error = str(exc)
                await self._wait_for_crds(backoff)
                backoff = min(backoff * 2, 5.0)
            except (KubeError, ValueError) as exc:
                self._failed(watch, exc)
                if isinstance(exc, NotFound):
                    self._discovery.invalidate()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _failed(self, watch: _Watch, exc: Exception) -> None:
        """Record a failed list/watch; log once per new error; wake waiters on a refusal."""
        if str(exc) != watch.last_error:
            log.warning("watch of %s failed (retrying with backoff): %s", watch.gvk, exc)
        watch.last_error = str(exc)
        if isinstance(exc, Forbidden | Unauthorized):
            watch.refused = exc
            watch.refused_event.set()

    async def _relist(self, watch: _Watch) -> str:
        assert watch.resource is not None
        items, rv = await self._client.list_all(watch.resource, label_selector=self._label)
        self._relists += 1
        gk = (watch.gvk.group, watch.gvk.kind)
        api_version = watch.resource.api_version
        seen: set[ObjKey] = set()
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", watch.gvk.kind)
            obj = slim(item, keep_managed_fields=watch.managed_fields)
            seen.add(object_key(obj))
            self._store(obj)
        for key in list(self._by_gk.get(gk, ())):
            if key not in seen:
                self._forget(key, notify=True)
        watch.synced.set()
        if not _refused_verb(watch.refused, "watch"):  # a list proves nothing of the watch
            self._recovered(watch)
        return rv

    def _recovered(self, watch: _Watch) -> None:
        if watch.last_error:
            log.info("watch of %s recovered", watch.gvk)
        watch.last_error = ""
        watch.refused = None
        watch.refused_event.clear()

    async def _follow(self, watch: _Watch, rv: str) -> None:
        assert watch.resource is not None
        while not self._closed:
            query = {
                "watch": "1",
                "resourceVersion": rv,
                "allowWatchBookmarks": "true",
                "labelSelector": self._label,
                "timeoutSeconds": self._watch_timeout,
            }
            async for event in self._client.stream(
                watch.resource.path(), query=query, read_timeout=self._watch_timeout + 30
            ):
                rv = self._apply(watch, event) or rv

    def _apply(self, watch: _Watch, event: dict[str, Any]) -> str:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 0)
            if code == 410:
                raise Gone(str(obj.get("message") or "resourceVersion too old"), status=410)
            raise KubeError(str(obj.get("message") or "watch error"), status=code)
        rv = resource_version(obj)
        if watch.refused is not None:  # the server streams this watch now
            self._recovered(watch)
        if kind == "BOOKMARK":
            return rv
        obj = slim(obj, keep_managed_fields=watch.managed_fields)
        if kind == "DELETED":
            self._forget(object_key(obj), notify=True)
        else:
            self._store(obj)
        return rv

    async def _wait_for_crds(self, timeout: float) -> None:
        self._crd_changed.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._crd_changed.wait(), timeout)

    async def _watch_crds(self) -> None:
        backoff = 0.2
        while not self._closed:
            try:
                res = await self._discovery.resource(CRD_GVK)
                doc = await self._client.list_page(res, limit=1)
                rv = str((doc.get("metadata") or {}).get("resourceVersion") or "")
                backoff = 0.2
                while True:
                    query = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true"}
                    async for event in self._client.stream(
                        res.path(), query=query, read_timeout=self._watch_timeout + 30
                    ):
                        obj = event.get("object") or {}
                        if event.get("type") == "ERROR":
                            raise Gone("crd watch expired", status=410)
                        rv = resource_version(obj) or rv
                        if event.get("type") == "DELETED" or (
                            event.get("type") != "BOOKMARK" and _established(obj)
                        ):
                            self._crd_event()
            except asyncio.CancelledError:
                raise
            except (KubeError, ValueError):
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _crd_event(self) -> None:
        self._discovery.invalidate()
        if self._on_crd_change:
            self._on_crd_change()
        self._crd_changed.set()


def _refused_verb(refused: KubeError | None, verb: str) -> bool:
    """Whether ``refused`` is a 403 for ``verb``, as its authorizer message says."""
    refusal = refused.refusal if isinstance(refused, Forbidden) else None
    return refusal is not None and refusal.verb == verb


def _has_fields(obj: dict[str, Any]) -> bool:
    """Whether managedFields are kept (a re-list after enabling them must replace objects)."""
    return "managedFields" in (obj.get("metadata") or {})


def _established(crd: dict[str, Any]) -> bool:
    """Deleted CRDs count as a change too; otherwise wait for Established."""
    if (crd.get("metadata") or {}).get("deletionTimestamp"):
        return True
    conditions = (crd.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
