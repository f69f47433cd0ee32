"""The engine as a library: diff and sync rendered objects against a live cluster.

Used by the CLI (``tether diff`` / ``tether sync``) and by the operator, with
no kopf involved. One ``Engine`` per process holds the client, discovery, the
OpenAPI cache, the shared resource cache and the verdict memo; each call takes
an ``AppSpec`` (who the app is and how to sync it) and the rendered objects.

* ``diff(app, rendered)`` -> ``DiffReport``: per object in-sync / out-of-sync /
  missing, a masked unified diff (``tether.diff``), and the objects that would
  be pruned. A non-empty local patch is confirmed with one server-side
  dry-run; when the server says it changes nothing, the verdict is remembered
  for that (resourceVersion, desired hash) and the object counts as in sync.
  A warm, in-sync app makes no API request at all.
* ``plan(app, rendered, revision)`` -> ``tether.plan.Plan``.
* ``sync(app, rendered, ...)`` -> ``OperationState``: executes the plan,
  persisting the state after each step, resuming from a saved state, and
  retrying per the app's retry policy.

Stops at the engine: rendering sources and writing Application status are the
callers' jobs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tether.backoff import exponential
from tether.diff import DiffError, DiffResult, IgnoreRule, VerdictCache, desired_hash
from tether.identity import (
    TRACKING_ANNOTATION,
    AppRef,
    LayeredScope,
    Owned,
    ResourceKey,
    SharedConflict,
    app_instance,
    ownership,
    resource_key,
    scope_from_crds,
    stamp,
)
from tether.kube.apply import Applier, ApplyItem, ApplyOptions, needs_server_side
from tether.kube.cache import ResourceCache
from tether.kube.client import KubeClient
from tether.kube.compare import Comparer
from tether.kube.discovery import Discovery
from tether.kube.errors import KubeError, NotFound, UnknownKind
from tether.kube.openapi import OpenApiCache
from tether.kube.resource import GVK
from tether.plan import Plan, SkipReason, build_plan
from tether.sync.executor import Executor, ExecutorConfig, Persist, Progress
from tether.sync.state import OperationState, Phase
from tether.tenancy import (
    ProjectPolicy,
    Request,
    Verdict,
    check,
    operations_of_plan,
    service_account_of,
)

NOT_PERMITTED = "NotPermitted"
"""The prefix of a sync's message when its Project refused the plan (nothing written)."""

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


@dataclass(frozen=True)
class RetryPolicy:
    """``syncPolicy.retry``: attempts after the first, and the backoff between them."""

    limit: int = 0
    duration: float = 5.0
    factor: float = 2.0
    max_duration: float = 180.0

    def delay(self, attempt: int) -> float:
        return exponential(attempt + 1, self.duration, self.factor, self.max_duration)


@dataclass(frozen=True)
class AppSpec:
    """What the engine needs to know about one Application."""

    name: str
    namespace: str = "default"
    destination_namespace: str = "default"
    service_account: str | None = None
    sync_options: tuple[str, ...] = ()
    prune: bool = False
    allow_empty: bool = False
    retry: RetryPolicy = RetryPolicy()
    concurrency: int = 8
    health_timeout: float = 300.0
    extra_kinds: tuple[GVK, ...] = ()
    ignore: tuple[IgnoreRule, ...] = ()
    # The app's Project; None only for the CLI without --project (nothing to check).
    project: ProjectPolicy | None = None

    @property
    def needs_managed_fields(self) -> bool:
        """Whether an ignore rule names field managers (the cache must keep managedFields)."""
        return any(rule.managed_fields_managers for rule in self.ignore)

    @property
    def server_side(self) -> bool:
        return "ServerSideApply=true" in self.sync_options

    @property
    def ref(self) -> AppRef:
        return AppRef(self.namespace, self.name)

    @property
    def label(self) -> str:
        return app_instance(self.ref)


@dataclass(frozen=True)
class ObjectDiff:
    """One object's standing: in-sync, out-of-sync, missing, prune, conflict or error.

    ``diff`` is the masked unified diff of an out-of-sync object; ``patch`` the
    normalized part of its patch that really changes something (for listing
    drifted fields).
    """

    key: ResourceKey
    status: str
    diff: str = ""
    message: str = ""
    patch: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class DiffReport:
    """Every object's standing, the errors that stopped some from being compared, and
    the keyed, stamped desired objects the comparison used."""

    entries: tuple[ObjectDiff, ...] = ()
    errors: tuple[str, ...] = ()
    desired: Mapping[ResourceKey, dict[str, Any]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def by_status(self, status: str) -> tuple[ObjectDiff, ...]:
        return tuple(e for e in self.entries if e.status == status)

    @property
    def in_sync(self) -> bool:
        return not self.errors and all(e.status == "in-sync" for e in self.entries)


Keyed = list[tuple[ResourceKey, dict[str, Any]]]


@dataclass(frozen=True)
class _Desired:
    """One render, keyed and stamped, with each object's hash (for the verdict memo)."""

    objects: Keyed
    errors: list[str]
    digests: dict[ResourceKey, str]
    too_big: frozenset[ResourceKey] = frozenset()  # annotation over the limit: SSA
    gvks: frozenset[GVK] = frozenset()
    cache_keys: frozenset[tuple[str, str, str, str]] = frozenset()


@dataclass
class _Prepared:
    desired: Keyed
    live: dict[ResourceKey, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    digests: dict[ResourceKey, str] = field(default_factory=dict)
    too_big: frozenset[ResourceKey] = frozenset()
    gvks: frozenset[GVK] = frozenset()


class Engine:
    """One per process: shared client, discovery, OpenAPI, cache and verdict memo."""

    def __init__(self, client: KubeClient, *, field_manager: str = "tether") -> None:
        self.client = client
        self.discovery = Discovery(client)
        self.openapi = OpenApiCache(client)
        self.cache = ResourceCache(client, self.discovery, on_crd_change=self.openapi.invalidate)
        self.field_manager = field_manager
        self.verdicts = VerdictCache()
        self._ssa_memo: dict[tuple[Any, ...], DiffResult] = {}
        self._noise: dict[tuple[ResourceKey, str, str], bool] = {}
        self._drift: set[tuple[ResourceKey, str, str]] = set()  # confirmed by a dry-run
        self._desired_memo: dict[AppRef, tuple[str, _Desired]] = {}

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

    # -- server-confirmed noise (VerdictStore protocol) ------------------------------

    def known_in_sync(self, key: ResourceKey, resource_version: str, digest: str) -> bool:
        return self._noise.get((key, resource_version, digest), False)

    def record_in_sync(self, key: ResourceKey, resource_version: str, digest: str) -> None:
        if len(self._noise) > 100_000:
            self._noise.clear()
        self._noise[(key, resource_version, digest)] = True

    # -- preparing ---------------------------------------------------------------------

    async def desired(
        self, app: AppSpec, rendered: Sequence[Mapping[str, Any]]
    ) -> tuple[list[tuple[ResourceKey, dict[str, Any]]], list[str]]:
        """Key and stamp each rendered object; errors name the object and the cause."""
        if not self.discovery.resources():
            await self.discovery.refresh()
        scope = LayeredScope(_DiscoveryScope(self.discovery), scope_from_crds(rendered))
        out: list[tuple[ResourceKey, dict[str, Any]]] = []
        errors: list[str] = []
        for obj in rendered:
            try:
                key = resource_key(obj, scope, app.destination_namespace)
            except Exception as exc:  # identity errors: bad object, unknown kind, scope
                errors.append(str(exc))
                continue
            stamped = stamp(obj, app.ref, key)
            if key.namespace:
                stamped["metadata"]["namespace"] = key.namespace
            out.append((key, stamped))
        return out, errors

    async def watch(self, app: AppSpec, gvks: Iterable[GVK] = ()) -> None:
        """Make the cache watch the kinds ``app`` manages (plus the common ones).

        Apps with ignore rules by field manager get their kinds cached with
        (compacted) managedFields.
        """
        wanted = {*gvks, *COMMON_KINDS, *app.extra_kinds}
        await self.cache.register(
            app.label, wanted, managed_fields=app.needs_managed_fields, timeout=60
        )

    async def _desired_memoized(
        self, app: AppSpec, rendered: Sequence[Mapping[str, Any]], revision: str
    ) -> _Desired:
        """``desired`` (and hashes) memoized per app for a render identity (``revision``)."""
        memo = self._desired_memo.get(app.ref)
        if revision and memo is not None and memo[0] == revision:
            return memo[1]
        objects, errors = await self.desired(app, rendered)
        digests = {key: desired_hash(obj) for key, obj in objects}
        too_big = frozenset(key for key, obj in objects if needs_server_side(obj))
        gvks = frozenset(GVK.of(obj) for _, obj in objects)
        cache_keys = frozenset((k.group, k.kind, k.namespace, k.name) for k, _ in objects)
        result = _Desired(objects, errors, digests, too_big, gvks, cache_keys)
        if revision:
            self._desired_memo[app.ref] = (revision, result)
        return result

    async def _prepare(
        self,
        app: AppSpec,
        rendered: Sequence[Mapping[str, Any]],
        *,
        fetch_missing: bool,
        revision: str = "",
    ) -> _Prepared:
        memo = await self._desired_memoized(app, rendered, revision)
        desired = memo.objects
        await self.watch(app, memo.gvks)
        prepared = _Prepared(
            desired,
            errors=list(memo.errors),
            digests=memo.digests,
            too_big=memo.too_big,
            gvks=memo.gvks,
        )
        for key, obj in desired:
            live = await self._live(key, obj, fetch_missing)
            if live is not None:
                prepared.live[key] = live
        for cache_key in self.cache.keys(app.label) - memo.cache_keys:
            extra = self.cache.get(cache_key)
            if extra is not None:
                prepared.live.setdefault(ResourceKey(*cache_key), extra)
        return prepared

    async def _live(
        self, key: ResourceKey, obj: Mapping[str, Any], fetch_missing: bool
    ) -> dict[str, Any] | None:
        """The cached object; a cache miss is fetched only when asked (or kind not watched).

        Sync does not fetch misses: creating an object that exists unlabelled
        fails with AlreadyExists, and the applier then patches it.
        """
        cached = self.cache.get((key.group, key.kind, key.namespace, key.name))
        if cached is not None:
            return cached
        gvk = GVK.of(dict(obj))
        if self.cache.is_synced(gvk) and not fetch_missing:
            return None
        if not key.name:
            return None
        try:
            res = await self.discovery.resource(gvk)
            live: dict[str, Any] = await self.client.get(res, key.name, key.namespace or None)
        except (NotFound, UnknownKind):
            return None
        return live

    async def _lookup(self, key: ResourceKey) -> dict[str, Any] | None:
        """The cached object; a GET only for kinds the cache does not hold yet.

        For a watched kind the cache is the answer: an object missing from it is
        either absent or not labelled as ours, and creating it then fails with
        AlreadyExists, which the applier turns into a GET and a patch. This
        saves one request per object on a cold sync.
        """
        cached = self.cache.get((key.group, key.kind, key.namespace, key.name))
        if cached is not None:
            return cached
        res = self.discovery.preferred(key.group, key.kind)
        if res is None or self.cache.is_synced(res.gvk):
            return None
        try:
            live: dict[str, Any] = await self.client.get(res, key.name, key.namespace or None)
        except NotFound:
            return None
        return live

    async def comparator(
        self, gvks: Iterable[GVK], ignore: tuple[IgnoreRule, ...] = ()
    ) -> Comparer:
        """A ``Comparer`` over the cluster's patch metadata for these kinds, memoized."""
        meta = await self.openapi.patch_meta((g.group, g.version) for g in gvks)
        return Comparer(meta, self.verdicts, ignore=ignore, ssa_memo=self._ssa_memo)

    # -- diff ----------------------------------------------------------------------------

    async def diff(
        self,
        app: AppSpec,
        rendered: Sequence[Mapping[str, Any]],
        *,
        revision: str = "",
        confirm: bool = True,
    ) -> DiffReport:
        """Compare ``rendered`` with live.

        ``revision`` names the render (commit, path, parameters): with it, keying,
        stamping and hashing are memoized, so a repeated no-op diff does no tree
        walk. With ``confirm`` (the default) each non-empty local patch is checked
        with one server-side dry-run, and noise is remembered.
        """
        prepared = await self._prepare(app, rendered, fetch_missing=True, revision=revision)
        compare = await self.comparator(prepared.gvks, app.ignore)
        entries: list[ObjectDiff] = []
        pending: list[tuple[int, ResourceKey, dict[str, Any], dict[str, Any], bool]] = []
        desired_keys = set()
        for key, obj in prepared.desired:
            desired_keys.add(key)
            live = prepared.live.get(key)
            try:
                entry, server_side = self._diff_one(app, key, obj, live, compare, prepared)
            except DiffError as exc:
                entry, server_side = ObjectDiff(key, "error", message=str(exc)), False
            if confirm and live is not None and self._unconfirmed(entry, live, prepared):
                pending.append((len(entries), key, obj, live, server_side))
            entries.append(entry)
        for index, message in await self._confirm(app, compare, pending, prepared.digests):
            old = entries[index]
            if message == "":
                self._remember_drift(old.key, prepared.live[old.key], prepared.digests)
            entries[index] = (
                ObjectDiff(old.key, "in-sync") if message is None else replace(old, message=message)
            )
        for key in sorted(k for k in prepared.live if k not in desired_keys):
            if isinstance(ownership(prepared.live[key], app.ref, key), Owned):
                entries.append(ObjectDiff(key, "prune", message="not in the source any more"))
        return DiffReport(tuple(entries), tuple(prepared.errors), dict(prepared.desired))

    def _diff_one(
        self,
        app: AppSpec,
        key: ResourceKey,
        desired: dict[str, Any],
        live: dict[str, Any] | None,
        compare: Comparer,
        prepared: _Prepared,
    ) -> tuple[ObjectDiff, bool]:
        if live is None:
            return ObjectDiff(key, "missing", message="to be created"), False
        verdict = Owned() if _same_tracking(live, desired) else ownership(live, app.ref, key)
        if isinstance(verdict, SharedConflict):
            return ObjectDiff(key, "conflict", message=f"owned by another app: {verdict}"), False
        server_side = app.server_side or key in prepared.too_big or _wants_ssa(desired)
        digest = prepared.digests.get(key)
        result = compare.verdict(desired, live, server_side=server_side, digest=digest)
        if result.in_sync or self.known_in_sync(key, _rv(live), digest or ""):
            return ObjectDiff(key, "in-sync"), server_side
        entry = ObjectDiff(key, "out-of-sync", diff=result.diff, patch=result.effective)
        return entry, server_side

    def _unconfirmed(self, entry: ObjectDiff, live: Mapping[str, Any], prepared: _Prepared) -> bool:
        """An out-of-sync verdict the server has not confirmed for this live/desired pair."""
        if entry.status != "out-of-sync":
            return False
        return (entry.key, _rv(live), prepared.digests.get(entry.key, "")) not in self._drift

    def _remember_drift(
        self, key: ResourceKey, live: Mapping[str, Any], digests: Mapping[ResourceKey, str]
    ) -> None:
        """The server confirmed this drift: no new dry-run until live or desired change."""
        if len(self._drift) > 100_000:
            self._drift.clear()
        self._drift.add((key, _rv(live), digests.get(key, "")))

    async def _confirm(
        self,
        app: AppSpec,
        compare: Comparer,
        pending: Sequence[tuple[int, ResourceKey, dict[str, Any], dict[str, Any], bool]],
        digests: Mapping[ResourceKey, str],
    ) -> list[tuple[int, str | None]]:
        """Dry-run each local patch; (index, None) where the server says it is noise.

        A failed dry-run keeps the object out of sync, with the server's reason.
        """
        if not pending:
            return []
        applier = Applier(self.client_for(app), self.discovery, compare, verdicts=self, app=app.ref)
        gate = asyncio.Semaphore(max(1, app.concurrency))

        async def one(
            item: tuple[int, ResourceKey, dict[str, Any], dict[str, Any], bool],
        ) -> tuple[int, str | None]:
            index, key, obj, live, server_side = item
            options = ApplyOptions(server_side=server_side, field_manager=self.field_manager)
            async with gate:
                try:
                    noise = await applier.confirm(
                        ApplyItem(key, obj, live, options), digest=digests.get(key)
                    )
                except KubeError as exc:
                    return index, f"server dry-run failed: {exc}"
            return index, None if noise else ""

        return list(await asyncio.gather(*(one(item) for item in pending)))

    # -- plan and sync ------------------------------------------------------------------

    async def plan(
        self,
        app: AppSpec,
        rendered: Sequence[Mapping[str, Any]],
        revision: str = "",
        *,
        prune: bool | None = None,
        input_failed: bool = False,
    ) -> tuple[Plan, list[str]]:
        prepared = await self._prepare(app, rendered, fetch_missing=False)
        inventory = [
            k for k, live in prepared.live.items() if isinstance(ownership(live, app.ref, k), Owned)
        ]
        plan = build_plan(
            app=app.ref,
            revision=revision,
            desired=prepared.desired,
            live=prepared.live,
            inventory=inventory,
            sync_options=app.sync_options,
            destination_namespace=app.destination_namespace,
            prune=app.prune if prune is None else prune,
            allow_empty=app.allow_empty,
            input_failed=input_failed or bool(prepared.errors),
        )
        return plan, prepared.errors

    async def permitted(
        self,
        app: AppSpec,
        rendered: Sequence[Mapping[str, Any]],
        sources: Sequence[str] = (),
        *,
        prune: bool | None = None,
    ) -> Verdict | None:
        """What the app's Project says of everything a sync would do now (None: no Project).

        Builds the same plan a sync would (hooks of every phase, prunes, CreateNamespace)
        and checks every task, with ``sources`` (parallel to ``rendered``) naming files.
        """
        if app.project is None:
            return None
        plan, _errors = await self.plan(app, rendered, prune=prune)
        return self._verdict(app, plan, rendered, sources)

    def _verdict(
        self,
        app: AppSpec,
        plan: Plan,
        rendered: Sequence[Mapping[str, Any]],
        sources: Sequence[str],
    ) -> Verdict | None:
        if app.project is None:
            return None
        files = self._files_by_key(app, rendered, sources)
        request = Request(
            app.ref,
            app.destination_namespace,
            service_account=app.service_account,
            objects=operations_of_plan(plan, files),
        )
        return check(app.project, request)

    def _files_by_key(
        self, app: AppSpec, rendered: Sequence[Mapping[str, Any]], sources: Sequence[str]
    ) -> dict[ResourceKey, str]:
        scope = LayeredScope(_DiscoveryScope(self.discovery), scope_from_crds(rendered))
        files: dict[ResourceKey, str] = {}
        for obj, source in zip(rendered, sources, strict=False):
            try:
                files[resource_key(obj, scope, app.destination_namespace)] = source
            except Exception:  # reported by desired(); a file name is only a courtesy here
                continue
        return files

    async def sync(
        self,
        app: AppSpec,
        rendered: Sequence[Mapping[str, Any]],
        *,
        revision: str = "",
        state: OperationState | None = None,
        persist: Persist | None = None,
        dry_run: bool = False,
        prune: bool | None = None,
        server_side: bool = False,
        progress: Progress | None = None,
        sources: Sequence[str] = (),
    ) -> OperationState:
        """Sync once (with retries per ``app.retry``); returns the final state.

        With a Project on ``app``, a plan holding anything it refuses fails before the
        first write, with a message starting ``NotPermitted:``.
        """
        persist = persist or (lambda _s: None)
        plan_id = _plan_id(app, rendered, revision)
        attempt = state.attempt if state is not None else 0
        while True:
            plan, errors = await self.plan(app, rendered, revision, prune=prune)
            if state is None or not state.resumable_for(plan_id):
                state = OperationState.begin(plan_id, revision, len(plan.steps), dry_run=dry_run)
            verdict = self._verdict(app, plan, rendered, sources)
            refusal = _refusal(plan, errors)
            if verdict is not None and not verdict.allowed:
                refusal = f"{NOT_PERMITTED}: {verdict.summary()}"
            if refusal:
                state = state.finish(Phase.FAILED, refusal)
                await _persist(persist, state)
                return state
            executor = await self._executor(app, plan, dry_run, server_side, progress)
            state = await executor.run(plan, state, persist)
            if state.phase is Phase.SUCCEEDED or dry_run or attempt >= app.retry.limit:
                return state
            await asyncio.sleep(app.retry.delay(attempt))
            attempt += 1
            state = replace(
                OperationState.begin(plan_id, revision, 0, dry_run=dry_run),
                attempt=attempt,
                message=f"retrying after: {state.message}",
            )

    async def _executor(
        self,
        app: AppSpec,
        plan: Plan,
        dry_run: bool,
        server_side: bool,
        progress: Progress | None,
    ) -> Executor:
        client = self.client_for(app)
        gvks = {GVK.of(dict(t.object)) for t in plan.tasks() if t.object is not None}
        compare = await self.comparator(gvks, app.ignore)
        applier = Applier(client, self.discovery, compare, verdicts=self, app=app.ref)
        config = ExecutorConfig(
            concurrency=app.concurrency,
            health_timeout=app.health_timeout,
            dry_run=dry_run,
            server_side=server_side,
        )
        return Executor(
            client, self.discovery, applier, app.ref, self._lookup, config=config, progress=progress
        )


class _DiscoveryScope:
    def __init__(self, discovery: Discovery) -> None:
        self._discovery = discovery

    def is_namespaced(self, group_kind: Any) -> bool | None:
        return self._discovery.is_namespaced(group_kind.group, group_kind.kind)


def _same_tracking(live: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Fast path of ``ownership``: live carries exactly the tracking id we stamped."""
    live_id = ((live.get("metadata") or {}).get("annotations") or {}).get(TRACKING_ANNOTATION)
    desired_meta = desired.get("metadata") or {}
    return bool(live_id) and live_id == (desired_meta.get("annotations") or {}).get(
        TRACKING_ANNOTATION
    )


def _rv(obj: Mapping[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")


def _wants_ssa(obj: Mapping[str, Any]) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    options = f"{annotations.get('tether.dev/sync-options', '')},{annotations.get('argocd.argoproj.io/sync-options', '')}"
    return "ServerSideApply=true" in options


def _plan_id(app: AppSpec, rendered: Sequence[Mapping[str, Any]], revision: str) -> str:
    digest = hashlib.sha256(f"{app.ref}\0{revision}\0".encode())
    for obj in rendered:
        digest.update(json.dumps(obj, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def _refusal(plan: Plan, errors: list[str]) -> str:
    if errors:
        return "invalid objects, nothing applied: " + "; ".join(errors[:5])
    conflicts = [s for s in plan.skipped if s.reason is SkipReason.SHARED_CONFLICT]
    if conflicts:
        names = "; ".join(f"{c.key}: {c.detail}" for c in conflicts[:5])
        return f"refused, objects belong to another app (nothing changed): {names}"
    return ""


async def _persist(persist: Persist, state: OperationState) -> None:
    result = persist(state)
    if result is not None:
        await result


__all__ = [
    "AppSpec",
    "DiffReport",
    "Engine",
    "KubeError",
    "ObjectDiff",
    "OperationState",
    "RetryPolicy",
]
