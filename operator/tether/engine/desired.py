"""The desired step: key and stamp rendered objects, hash them, memoized per app.

``Desired.of(app, rendered, render_id)`` gives a ``DesiredSet``: each rendered
object with its ``ResourceKey`` (scope from discovery and the CRDs in the same
render), stamped with the app's tracking label and annotation, its desired hash
(for the verdict store), its sync wave, whether it is a hook, and the kinds
involved. Hooks (PreSync/Sync/PostSync/SyncFail, Argo CD and Helm annotations,
and objects marked Skip) belong to a sync operation, not to the desired state:
the differ never counts them. Objects that cannot be keyed, or whose hook or
wave annotation is invalid, become errors naming the file, the object and the
cause. With a ``render_id`` the result
is remembered per app, so a repeated no-op reconcile does no tree walk;
``forget(app)`` drops it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tether.appspec import AppSpec
from tether.diff import desired_hash
from tether.errors import TetherError
from tether.identity import (
    AppRef,
    IdentityError,
    LayeredScope,
    ResourceKey,
    UnknownKindError,
    as_written,
    describe,
    resource_key,
    scope_from_crds,
    stamp,
)
from tether.kube.apply import needs_server_side
from tether.kube.discovery import Discovery
from tether.kube.resource import GVK
from tether.plan.annotations import hook_spec, wave
from tether.plan.errors import DuplicateObjectError, PlanError

Keyed = list[tuple[ResourceKey, dict[str, Any]]]


@dataclass(frozen=True)
class DesiredSet:
    """One render, keyed and stamped, with each object's hash."""

    objects: Keyed
    errors: tuple[str, ...]  # one line each, naming the file and the object
    digests: Mapping[ResourceKey, str]
    too_big: frozenset[ResourceKey] = frozenset()  # annotation over the limit: SSA
    gvks: frozenset[GVK] = frozenset()
    cache_keys: frozenset[tuple[str, str, str, str]] = frozenset()
    problems: tuple[TetherError, ...] = ()  # the errors as raised, for their kind
    hooks: frozenset[ResourceKey] = frozenset()  # hooks and Skip objects: not desired state
    waves: Mapping[ResourceKey, int] = field(default_factory=dict)  # non-zero waves only
    files: Mapping[ResourceKey, str] = field(default_factory=dict)  # where each came from


class Desired:
    """Keys, stamps and hashes renders; remembers the last one per app."""

    def __init__(self, discovery: Discovery) -> None:
        self.discovery = discovery
        self._memo: dict[AppRef, tuple[str, DesiredSet]] = {}

    async def keyed(
        self,
        app: AppSpec,
        rendered: Sequence[Mapping[str, Any]],
        sources: Sequence[str] = (),
    ) -> tuple[Keyed, list[tuple[str, TetherError]], dict[ResourceKey, str]]:
        """Key and stamp each rendered object; errors name the file, the object and the cause.

        A kind discovery does not know triggers one (rate-limited) discovery
        refresh, so a CRD installed since the last look is found.
        """
        if not self.discovery.resources():
            await self.discovery.refresh()
        out, errors, files = self._key_all(app, rendered, sources)
        if any(isinstance(exc, UnknownKindError) for _, exc in errors):
            await self.discovery.refresh(force=False)
            out, errors, files = self._key_all(app, rendered, sources)
        return out, errors, files

    def _key_all(
        self, app: AppSpec, rendered: Sequence[Mapping[str, Any]], sources: Sequence[str]
    ) -> tuple[Keyed, list[tuple[str, TetherError]], dict[ResourceKey, str]]:
        scope = LayeredScope(_DiscoveryScope(self.discovery), scope_from_crds(rendered))
        out: Keyed = []
        errors: list[tuple[str, TetherError]] = []
        seen: dict[ResourceKey, str] = {}
        for index, obj in enumerate(rendered):
            where = sources[index] if index < len(sources) else ""
            try:
                key = resource_key(obj, scope, app.destination_namespace)
                operation_of(obj, key)  # a bad hook or wave annotation is an invalid object
                if key.name and key in seen:
                    # Exact only here, after namespace defaulting (render checked as written).
                    raise DuplicateObjectError(key.label, seen[key], where or as_written(obj))
            except DuplicateObjectError as exc:  # names both places already
                errors.append((str(exc), exc))
                continue
            except (IdentityError, PlanError) as exc:  # bad object, unknown kind, scope
                errors.append((f"{where}: {exc}" if where else str(exc), exc))
                continue
            seen[key] = where or as_written(obj)
            stamped = stamp(obj, app.ref, key)
            if key.namespace:
                stamped["metadata"]["namespace"] = key.namespace
            out.append((key, stamped))
        return out, errors, seen

    async def of(
        self,
        app: AppSpec,
        rendered: Sequence[Mapping[str, Any]],
        render_id: str = "",
        sources: Sequence[str] = (),
    ) -> DesiredSet:
        """The ``DesiredSet`` of ``rendered``, memoized per app for ``render_id``.

        ``sources`` names where each rendered object came from (``file[doc N]``).
        A render with errors is not memoized: the next call looks again.
        """
        memo = self._memo.get(app.ref)
        if render_id and memo is not None and memo[0] == render_id:
            return memo[1]
        objects, errors, files = await self.keyed(app, rendered, sources)
        operations = {key: operation_of(obj, key) for key, obj in objects}
        result = DesiredSet(
            objects,
            tuple(text for text, _ in errors),
            {key: desired_hash(obj) for key, obj in objects},
            frozenset(key for key, obj in objects if needs_server_side(obj)),
            frozenset(GVK.of(obj) for _, obj in objects),
            frozenset((k.group, k.kind, k.namespace, k.name) for k, _ in objects),
            tuple(exc for _, exc in errors),
            frozenset(key for key, (hook, _) in operations.items() if hook),
            {key: wave for key, (_, wave) in operations.items() if wave},
            files,
        )
        if render_id and not errors:
            self._memo[app.ref] = (render_id, result)
        return result

    def forget(self, app: AppRef) -> None:
        self._memo.pop(app, None)


def operation_of(obj: Mapping[str, Any], key: ResourceKey) -> tuple[bool, int]:
    """(whether ``obj`` is a hook or marked Skip, its sync wave); raises ``PlanError``."""
    where = f"{describe(obj)} ({key})"
    spec = hook_spec(obj, where)
    return spec.is_hook or spec.skip, wave(obj, where, is_hook=spec.is_hook)


def is_hook(obj: Mapping[str, Any]) -> bool:
    """Whether a live object is a hook (its delete policy, not pruning, removes it)."""
    try:
        spec = hook_spec(obj, describe(obj))
    except PlanError:
        return True  # an invalid hook annotation still marks a hook: never prune it
    return spec.is_hook


class _DiscoveryScope:
    def __init__(self, discovery: Discovery) -> None:
        self._discovery = discovery

    def is_namespaced(self, group_kind: Any) -> bool | None:
        return self._discovery.is_namespaced(group_kind.group, group_kind.kind)
