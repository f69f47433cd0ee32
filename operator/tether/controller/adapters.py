"""Bind the controller ports to the real engine: GitCache, renderer, Engine, cache.

``GitCacheSource`` resolves and fetches through the shared ``GitCache``;
``FetcherSource`` resolves helm/oci charts and artifacts through ``SourceFetcher``.
``EngineAdapter`` runs ``Engine.diff`` on an app's ``AppSpec`` and reshapes the report into a ``Comparison`` (health per
object from the cluster cache, waves and hooks from the annotations, drifted
fields from the three-way patch), runs ``Engine.sync`` with retries left to
the controller's policy, and deletes or orphans an app's objects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from tether.api.conditions import Reason
from tether.appspec import AppSpec
from tether.constants import APP_LABEL, TRACKING_ANNOTATION
from tether.controller.ports import (
    Comparison,
    DeletionOutcome,
    NotPermittedError,
    PersistStep,
    Rendered,
    ResourceState,
    SourceCommit,
    SyncOutcome,
)
from tether.controller.rendering import SourceTree, render_sources_blocking
from tether.diff.lastapplied import LAST_APPLIED
from tether.engine import Engine, Standing
from tether.errors import TetherError
from tether.git.auth import GitAuth
from tether.git.cache import GitCache, Snapshot
from tether.health import HealthResult, HealthStatus, aggregate, assess
from tether.identity import (
    AppRef,
    Owned,
    ResourceKey,
    UnknownKindError,
    ownership,
)
from tether.kube.changeset import Action, ChangeReason
from tether.kube.errors import KubeError, NotFound
from tether.kube.prune import Pruner
from tether.kube.resource import GVK
from tether.messages import join_limited
from tether.objects import key_of, label
from tether.plan.errors import DuplicateObjectError
from tether.sources import Access, SourceFetcher, SourceRequest
from tether.sources.dependencies import (
    DeclaredRepository,
    OverlayTree,
    remote_dependencies,
    vendor_dependencies,
)
from tether.sources.fetch import render_root
from tether.sync.state import SyncOperation
from tether.tenancy import Operation, PlannedObject, object_refusals, source_allowed

log = logging.getLogger(__name__)

Renderer = Callable[[Any, AppSpec, str, str], Awaitable[Rendered]]
"""(tree, app spec, commit as cache key, root folder in the tree) -> the rendered objects."""


class FetcherSource:
    """The ``ChartSource`` port over ``tether.sources.SourceFetcher``."""

    def __init__(self, fetcher: SourceFetcher) -> None:
        self.fetcher = fetcher

    async def resolve(self, key: str, request: SourceRequest, access: Access) -> SourceCommit:
        return SourceCommit.of_artifact(key, await self.fetcher.aresolve(request, access))

    async def probe(self, request: SourceRequest, access: Access) -> None:
        await asyncio.to_thread(self.fetcher.probe, request, access)


class GitCacheSource:
    """The ``GitSource`` port over ``tether.git.cache.GitCache``."""

    def __init__(self, cache: GitCache) -> None:
        self.cache = cache

    async def resolve(
        self,
        url: str,
        revision: str,
        *,
        auth: GitAuth | None,
        insecure: bool,
        timeout: float,
        max_age: float = 0.0,
    ) -> SourceCommit:
        snap = await self.cache.fetch(
            url, revision, auth, insecure=insecure, timeout=timeout, max_age=max_age
        )
        return SourceCommit(revision=revision, commit=snap.commit, ref=snap.ref, url=snap.url)


def drifted_fields(patch: Mapping[str, Any], prefix: str = "", limit: int = 20) -> list[str]:
    """JSON pointers of the leaves a patch changes (SMP directives folded into their field)."""
    out: list[str] = []
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        name = key.split("/", 1)[1] if key.startswith("$setElementOrder/") else key
        if name == "metadata" and isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if k != "annotations" or _non_tracking(v)}
            if not value:
                continue
        pointer = f"{prefix}/{name.replace('~', '~0').replace('/', '~1')}"
        if isinstance(value, Mapping) and value and not any(k.startswith("$") for k in value):
            out.extend(drifted_fields(value, pointer, limit))
        else:
            out.append(pointer)
        if len(out) >= limit:
            break
    return sorted(set(out))[:limit]


def _non_tracking(annotations: Any) -> bool:
    if not isinstance(annotations, Mapping):
        return True
    ignored = {LAST_APPLIED, TRACKING_ANNOTATION}
    return any(k not in ignored for k in annotations)


class EngineAdapter:
    """The ``AppEngine`` port over ``tether.engine.Engine``."""

    def __init__(
        self,
        engine: Engine,
        git: GitCache,
        renderer: Renderer,
        fetcher: SourceFetcher | None = None,
        declared: Callable[[str], Awaitable[list[DeclaredRepository]]] | None = None,
    ) -> None:
        self.engine = engine
        self.git = git
        self.renderer = renderer
        self.fetcher = fetcher
        self.declared = declared  # the helm/oci Repositories of a namespace, for dependencies
        self._unsubscribe: dict[tuple[str, str], Callable[[], None]] = {}

    async def render(self, app: AppSpec, resolved: SourceCommit) -> Rendered:
        if resolved.parts:
            return await self._render_sources(app, resolved.parts)
        if resolved.artifact is not None and self.fetcher is not None:
            archive, root = await asyncio.to_thread(self.fetcher.tree, resolved.artifact)
            where = render_root(resolved.artifact, root, app.source.path)
            return await self._render(app, archive, resolved.commit, where)
        tree = self.git.tree(Snapshot(resolved.url, resolved.ref, resolved.commit))
        try:
            return await self._render(app, tree, resolved.commit, app.source.path)
        finally:
            tree.close()

    async def _render_sources(self, app: AppSpec, parts: tuple[SourceCommit, ...]) -> Rendered:
        """Every source of a multi-source app read and rendered into one ``Rendered``."""
        trees: list[SourceTree] = []
        opened: list[Any] = []
        try:
            for source, part in zip(app.all_sources, parts, strict=True):
                tree: Any
                if part.artifact is not None and self.fetcher is not None:
                    tree, root = await asyncio.to_thread(self.fetcher.tree, part.artifact)
                    where = render_root(part.artifact, root, source.path)
                else:
                    tree = self.git.tree(Snapshot(part.url, part.ref, part.commit))
                    opened.append(tree)
                    where = source.path
                full = await self._with_dependencies(app, tree, where) if source.renders else tree
                key = (
                    part.commit
                    if not isinstance(full, OverlayTree)
                    else f"{part.commit}+{full.pin}"
                )
                trees.append(SourceTree(source, full, where, key))
            return await asyncio.to_thread(render_sources_blocking, trees, app)
        finally:
            for tree in opened:
                tree.close()

    async def _render(self, app: AppSpec, tree: Any, commit: str, where: str) -> Rendered:
        full = await self._with_dependencies(app, tree, where)
        # Fetched dependencies are part of what was rendered: their digests join the
        # commit in the render's identity, so a dependency that moves is rendered anew.
        key = commit if not isinstance(full, OverlayTree) else f"{commit}+{full.pin}"
        rendered = await self.renderer(full, app, key, where)
        return replace(rendered, render_key=key)

    async def _with_dependencies(self, app: AppSpec, tree: Any, chart: str) -> Any:
        """``tree`` with the chart's remote dependencies from declared Repositories vendored."""
        if self.fetcher is None or self.declared is None:
            return tree
        if not await asyncio.to_thread(remote_dependencies, tree, chart):
            return tree
        repositories = [  # only those the app's Project admits as sources
            repo
            for repo in await self.declared(app.namespace)
            if app.project is None or source_allowed(app.project, repo.url)
        ]
        return await asyncio.to_thread(vendor_dependencies, self.fetcher, tree, chart, repositories)

    async def compare(self, app: AppSpec, resolved: SourceCommit, desired: Rendered) -> Comparison:
        # The render is a function of the commit and the app's spec, so this names it
        # for the engine's memo: a no-op reconcile then does no keying or hashing.
        render_id = f"{desired.render_key or resolved.commit}:{app.render_id}{desired.variant}"
        verdict = await self.engine.permitted(
            app, desired.objects, desired.sources, render_id=render_id
        )
        if verdict is not None and not verdict.allowed:
            raise NotPermittedError(verdict.summary())
        report = await self.engine.diff(
            app, desired.objects, revision=render_id, sources=desired.sources
        )
        if report.errors:
            raise ObjectsRejected.of(report.errors, report.problems)
        by_key = report.desired
        resources: list[ResourceState] = []
        conflicts: list[str] = []
        healths: list[HealthResult] = []
        for entry in report.entries:
            key = entry.key
            obj = by_key.get(key)
            live = self.engine.cache.get((key.group, key.kind, key.namespace, key.name))
            hook = entry.status is Standing.HOOK
            health = assess(live) if entry.status is not Standing.PRUNE else None
            if health is not None and not hook:
                healths.append(health)
            fields: tuple[str, ...] = ()
            if entry.status is Standing.OUT_OF_SYNC:
                fields = tuple(drifted_fields(entry.patch))
            if entry.status is Standing.CONFLICT:
                conflicts.append(f"{label(key)} {entry.message}")
            resources.append(
                ResourceState(
                    kind=key.kind,
                    name=key.name,
                    group=key.group,
                    version=_version(obj, live),
                    namespace=key.namespace or None,
                    status=entry.status.sync_status,
                    health=health.status if health else None,
                    health_message=health.message if health else "",
                    wave=entry.wave,
                    requires_pruning=entry.status is Standing.PRUNE,
                    hook=hook,
                    drifted_fields=fields,
                    message=entry.message,
                )
            )
        overall = aggregate(healths) if healths else HealthResult(HealthStatus.HEALTHY, "")
        return Comparison(
            revision=resolved.display,
            revisions=tuple(part.display for part in resolved.parts),
            resources=tuple(resources),
            health=overall.status,
            health_message=overall.message,
            conflicts=tuple(conflicts),
            empty=not desired.objects,
        )

    async def sync(
        self,
        app: AppSpec,
        resolved: SourceCommit,
        desired: Rendered,
        *,
        prune: bool,
        resume: Mapping[str, Any] | None,
        persist: PersistStep,
    ) -> SyncOutcome:
        state = SyncOperation.from_dict(dict(resume)) if resume else None

        async def save(step: SyncOperation) -> None:
            await persist(step.to_dict())

        final = await self.engine.sync(
            app,
            desired.objects,
            sources=desired.sources,
            revision=resolved.display,
            state=state,
            persist=save,
            prune=prune,
        )
        pruned = tuple(
            label(c.key) for c in final.changes if c.action is Action.PRUNED and not c.dry_run
        )
        adopted = tuple(
            label(c.key) for c in final.changes if c.action is Action.ADOPTED and not c.dry_run
        )
        skipped = tuple(
            c.message
            for c in final.changes
            if c.reason is ChangeReason.NAMESPACE_NOT_EMPTY and not c.dry_run
        )
        return SyncOutcome(
            final.phase,
            final.message,
            final.to_dict(),
            pruned,
            adopted=adopted,
            prune_skipped=skipped,
        )

    async def delete(
        self, app: AppSpec, *, cascade: bool, kinds: frozenset[GVK] = frozenset()
    ) -> DeletionOutcome:
        spec = app
        await self.engine.watch(spec, kinds)
        ref = spec.ref
        live = [o for o in self.engine.cache.objects(spec.label)]
        owned = [
            (k, o)
            for k, o in ((key_of(o), o) for o in live)
            if isinstance(ownership(o, ref, k), Owned) and _may_delete(spec, k)
        ]
        if not owned:
            return DeletionOutcome(True)
        problems: list[str] = []
        if cascade:
            pruner = Pruner(self.engine.client_for(spec), self.engine.discovery, ref)
            for key, obj in owned:
                change = await pruner.prune(key, obj, propagation="background")
                if change.action is Action.FAILED:
                    problems.append(f"{label(key)}: {change.message}")
        else:
            for key, obj in owned:
                try:
                    res = await self.engine.discovery.resource(GVK.of(obj))
                    await self.engine.client.patch(
                        res,
                        key.name,
                        {
                            "metadata": {
                                "labels": {APP_LABEL: None},
                                "annotations": {TRACKING_ANNOTATION: None},
                            }
                        },
                        namespace=key.namespace or None,
                    )
                except NotFound:
                    continue
                except KubeError as exc:
                    problems.append(f"{label(key)}: {exc}")
        remaining = tuple(label(k) for k, _ in owned)
        stuck = [o for _, o in owned if (o.get("metadata") or {}).get("finalizers")]
        message = join_limited(problems)
        if not message:
            present = join_limited(remaining, sep=", ")
            message = f"{len(remaining)} object(s) still present: {present}"
            if stuck:
                message += f" ({len(stuck)} held by finalizers)"
        return DeletionOutcome(False, remaining, message)

    def watch(self, app: AppSpec, wake: Callable[[], None]) -> None:
        key = (app.namespace, app.name)
        if key in self._unsubscribe:
            return
        self._unsubscribe[key] = self.engine.cache.subscribe(app.label, lambda _event: wake())

    async def forget(self, key: tuple[str, str]) -> None:
        unsubscribe = self._unsubscribe.pop(key, None)
        if unsubscribe is not None:
            unsubscribe()
        await self.engine.forget(AppRef(*key))


class ObjectsRejected(TetherError):
    """Rendered objects that cannot be keyed (no name, unknown kind, wrong scope).

    ``reason`` is ``UnknownKind`` when every rejected object is of a kind the
    cluster does not know, ``DuplicateObject`` when every one is declared twice,
    else ``InvalidObjects``. The message lists every
    object (file and cause), one per line part.
    """

    def __init__(self, message: str, reason: Reason) -> None:
        super().__init__(message)
        self.reason = reason

    @classmethod
    def of(cls, errors: Sequence[str], problems: Sequence[Exception]) -> ObjectsRejected:
        reason = Reason.INVALID_OBJECTS
        for kind, named in ((UnknownKindError, Reason.UNKNOWN_KIND),
                            (DuplicateObjectError, Reason.DUPLICATE_OBJECT)):  # fmt: skip
            if problems and all(isinstance(p, kind) for p in problems):
                reason = named
        head = f"{len(errors)} object(s) rejected: " if len(errors) > 1 else ""
        return cls(head + "; ".join(errors), reason)


def _may_delete(spec: AppSpec, key: ResourceKey) -> bool:
    """Whether the Project allows deleting ``key`` on cascade: a tracking label on an
    object outside its destinations is not proof of ownership, so it stays."""
    if spec.project is None:
        return True
    planned = PlannedObject(key, Operation.PRUNE)
    return not object_refusals(spec.project, spec.ref, planned)


def _version(obj: Mapping[str, Any] | None, live: Mapping[str, Any] | None) -> str:
    api_version = str((obj or live or {}).get("apiVersion") or "")
    return api_version.rpartition("/")[2]


__all__ = [
    "EngineAdapter",
    "GitCacheSource",
    "ObjectsRejected",
    "drifted_fields",
]
