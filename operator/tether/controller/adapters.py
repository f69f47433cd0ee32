"""Bind the controller ports to the real engine: GitCache, renderer, Engine, cache.

``GitCacheSource`` resolves and fetches through the shared ``GitCache``.
``EngineAdapter`` turns an ``Application`` into the engine's ``AppSpec``, runs
``Engine.diff`` and reshapes the report into a ``Comparison`` (health per
object from the cluster cache, waves and hooks from the annotations, drifted
fields from the three-way patch), runs ``Engine.sync`` with retries left to
the controller's policy, and deletes or orphans an app's objects.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from tether.api.application import Application
from tether.controller.ports import (
    Comparison,
    DeletionOutcome,
    NotPermittedError,
    PersistStep,
    Resolved,
    ResourceState,
    SyncOutcome,
)
from tether.engine import AppSpec, Engine, RetryPolicy
from tether.git.auth import GitAuth
from tether.git.cache import GitCache, Snapshot
from tether.health import HealthResult, HealthStatus, aggregate, assess
from tether.identity import (
    APP_LABEL,
    TRACKING_ANNOTATION,
    AppRef,
    Owned,
    ResourceKey,
    app_instance,
    ownership,
)
from tether.kube.changeset import Action
from tether.kube.errors import KubeError, NotFound
from tether.kube.prune import Pruner
from tether.kube.resource import GVK
from tether.sync.state import OperationState
from tether.tenancy import (
    Operation,
    PlannedObject,
    ProjectBook,
    ProjectPolicy,
    object_refusals,
)

log = logging.getLogger(__name__)

Renderer = Callable[[Any, Application, str], Awaitable[list[dict[str, Any]]]]
"""(tree, application, commit as cache key) -> the rendered objects."""


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
    ) -> Resolved:
        snap = await self.cache.fetch(
            url, revision, auth, insecure=insecure, timeout=timeout, max_age=max_age
        )
        return Resolved(revision=revision, commit=snap.commit, ref=snap.ref, url=snap.url)


def app_spec(app: Application, project: ProjectPolicy | None = None) -> AppSpec:
    """The engine's view of an Application; retries stay with the controller."""
    ns = app.metadata.namespace or "default"
    sp = app.spec.sync_policy
    auto = sp.automated
    return AppSpec(
        name=app.metadata.name,
        namespace=ns,
        destination_namespace=app.target_namespace or ns,
        service_account=app.spec.destination.service_account_name,
        sync_options=tuple(sp.sync_options),
        prune=bool(auto and auto.prune),
        allow_empty=bool(auto and auto.allow_empty),
        retry=RetryPolicy(limit=0),
        project=project,
    )


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
    ignored = {"kubectl.kubernetes.io/last-applied-configuration", TRACKING_ANNOTATION}
    return any(k not in ignored for k in annotations)


class EngineAdapter:
    """The ``AppEngine`` port over ``tether.engine.Engine``."""

    def __init__(
        self, engine: Engine, git: GitCache, renderer: Renderer, projects: ProjectBook
    ) -> None:
        self.engine = engine
        self.git = git
        self.renderer = renderer
        self.projects = projects
        self._unsubscribe: dict[tuple[str, str], Callable[[], None]] = {}

    def spec(self, app: Application) -> AppSpec:
        """The engine's view of ``app``, with its Project's policy (a missing or invalid
        Project allows nothing; the controller has refused such an app already)."""
        ref = AppRef(app.metadata.namespace or "default", app.metadata.name)
        found = self.projects.policy(app.spec.project, ref)
        policy = found if isinstance(found, ProjectPolicy) else deny_all(app.spec.project)
        return app_spec(app, policy)

    async def render(self, app: Application, resolved: Resolved) -> list[dict[str, Any]]:
        tree = self.git.tree(Snapshot(resolved.url, resolved.ref, resolved.commit))
        try:
            return await self.renderer(tree, app, resolved.commit)
        finally:
            tree.close()

    async def compare(
        self, app: Application, resolved: Resolved, desired: Sequence[dict[str, Any]]
    ) -> Comparison:
        # The render is a function of the commit and the app's spec, so this names it
        # for the engine's memo: a no-op reconcile then does no keying or hashing.
        render_id = f"{resolved.commit}:{app.metadata.uid}:{app.metadata.generation}"
        spec = self.spec(app)
        verdict = await self.engine.permitted(spec, desired, _sources(desired))
        if verdict is not None and not verdict.allowed:
            raise NotPermittedError(verdict.summary())
        report = await self.engine.diff(spec, desired, revision=render_id)
        if report.errors:
            raise InvalidObjects("; ".join(report.errors[:5]))
        by_key = report.desired
        resources: list[ResourceState] = []
        conflicts: list[str] = []
        healths: list[HealthResult] = []
        for entry in report.entries:
            key = entry.key
            obj = by_key.get(key)
            live = self.engine.cache.get((key.group, key.kind, key.namespace, key.name))
            hook, wave = _hook_and_wave(obj)
            health = assess(live) if entry.status != "prune" else None
            if health is not None and not hook:
                healths.append(health)
            status = {
                "in-sync": "Synced",
                "out-of-sync": "OutOfSync",
                "missing": "OutOfSync",
                "prune": "OutOfSync",
            }.get(entry.status, "Unknown")
            fields: tuple[str, ...] = ()
            if entry.status == "out-of-sync":
                fields = tuple(drifted_fields(entry.patch))
            if entry.status == "conflict":
                conflicts.append(f"{_label(key)} {entry.message}")
                status = "Unknown"
            resources.append(
                ResourceState(
                    kind=key.kind,
                    name=key.name,
                    group=key.group,
                    version=_version(obj, live),
                    namespace=key.namespace or None,
                    status=status,
                    health=health.status.value if health else None,
                    health_message=health.message if health else "",
                    wave=wave,
                    requires_pruning=entry.status == "prune",
                    hook=hook,
                    drifted_fields=fields,
                    message=entry.message if entry.status not in ("in-sync",) else "",
                )
            )
        overall = aggregate(healths) if healths else HealthResult(HealthStatus.HEALTHY, "")
        return Comparison(
            revision=resolved.display,
            resources=tuple(resources),
            health=overall.status.value,
            health_message=overall.message,
            conflicts=tuple(conflicts),
            empty=not desired,
        )

    async def sync(
        self,
        app: Application,
        resolved: Resolved,
        desired: Sequence[dict[str, Any]],
        *,
        prune: bool,
        resume: Mapping[str, Any] | None,
        persist: PersistStep,
    ) -> SyncOutcome:
        state = OperationState.from_dict(dict(resume)) if resume else None

        async def save(step: OperationState) -> None:
            await persist(step.to_dict())

        final = await self.engine.sync(
            self.spec(app),
            desired,
            revision=resolved.display,
            state=state,
            persist=save,
            prune=prune,
            sources=_sources(desired),
        )
        pruned = tuple(
            _label(c.key) for c in final.changes if c.action is Action.PRUNED and not c.dry_run
        )
        return SyncOutcome(final.phase.value, final.message, final.to_dict(), pruned)

    async def delete(self, app: Application, *, cascade: bool) -> DeletionOutcome:
        spec = self.spec(app)
        kinds = _kinds_from_status(app)
        await self.engine.watch(spec, kinds)
        ref = AppRef(spec.namespace, spec.name)
        live = [o for o in self.engine.cache.objects(spec.label)]
        owned = [
            (k, o)
            for k, o in ((_key(o), o) for o in live)
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
                    problems.append(f"{_label(key)}: {change.message}")
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
                    problems.append(f"{_label(key)}: {exc}")
        remaining = tuple(_label(k) for k, _ in owned)
        stuck = [o for _, o in owned if (o.get("metadata") or {}).get("finalizers")]
        message = "; ".join(problems[:5])
        if not message:
            message = f"{len(remaining)} object(s) still present: " + ", ".join(remaining[:5])
            if stuck:
                message += f" ({len(stuck)} held by finalizers)"
        return DeletionOutcome(False, remaining, message)

    def watch(self, app: Application, wake: Callable[[], None]) -> None:
        label = app_instance(AppRef(app.metadata.namespace or "default", app.metadata.name))
        key = (app.metadata.namespace or "default", app.metadata.name)
        if key in self._unsubscribe:
            return
        self._unsubscribe[key] = self.engine.cache.subscribe(label, lambda _event: wake())

    async def forget(self, key: tuple[str, str]) -> None:
        unsubscribe = self._unsubscribe.pop(key, None)
        if unsubscribe is not None:
            unsubscribe()
        await self.engine.cache.unregister(app_instance(AppRef(*key)))


class InvalidObjects(Exception):
    """Rendered objects that cannot be keyed (no name, unknown kind, wrong scope)."""


def deny_all(name: str) -> ProjectPolicy:
    """The policy of a Project that cannot be used: nothing anywhere."""
    return ProjectPolicy(name, namespace_allow=())


def _sources(desired: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(getattr(desired, "sources", ()))


def _may_delete(spec: AppSpec, key: ResourceKey) -> bool:
    """Whether the Project allows deleting ``key`` on cascade: a tracking label on an
    object outside its destinations is not proof of ownership, so it stays."""
    if spec.project is None:
        return True
    planned = PlannedObject(key, Operation.PRUNE)
    return not object_refusals(spec.project, spec.ref, planned)


def _hook_and_wave(obj: Mapping[str, Any] | None) -> tuple[bool, int]:
    if obj is None:
        return False, 0
    from tether.plan.annotations import hook_spec, wave

    where = _label(_key(obj)) if (obj.get("metadata") or {}).get("name") else "object"
    try:
        spec = hook_spec(obj, where)
        return spec.is_hook, wave(obj, where, is_hook=spec.is_hook)
    except Exception:
        return False, 0


def _version(obj: Mapping[str, Any] | None, live: Mapping[str, Any] | None) -> str:
    api_version = str((obj or live or {}).get("apiVersion") or "")
    return api_version.rpartition("/")[2]


def _key(obj: Mapping[str, Any]) -> ResourceKey:
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion") or "").rpartition("/")[0]
    return ResourceKey(
        group, str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name") or "")
    )


def _label(key: ResourceKey) -> str:
    where = f"{key.namespace}/{key.name}" if key.namespace else key.name
    return f"{key.kind} {where}"


def _kinds_from_status(app: Application) -> set[GVK]:
    kinds: set[GVK] = set()
    for r in app.status.resources if app.status else ():
        if r.version:
            kinds.add(GVK(r.group, r.version, r.kind))
    return kinds


__all__ = [
    "EngineAdapter",
    "GitCacheSource",
    "InvalidObjects",
    "app_spec",
    "drifted_fields",
]
