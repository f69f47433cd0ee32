"""The desired step: key and stamp rendered objects, hash them, memoized per app.

``Desired.of(app, rendered, render_id)`` gives a ``DesiredSet``: each rendered
object with its ``ResourceKey`` (scope from discovery and the CRDs in the same
render), stamped with the app's tracking label and annotation, its desired hash
(for the verdict store) and the kinds involved. Objects that cannot be keyed
become errors naming the object and the cause. With a ``render_id`` the result
is remembered per app, so a repeated no-op reconcile does no tree walk;
``forget(app)`` drops it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tether.appspec import AppSpec
from tether.diff import desired_hash
from tether.identity import (
    AppRef,
    IdentityError,
    LayeredScope,
    ResourceKey,
    resource_key,
    scope_from_crds,
    stamp,
)
from tether.kube.apply import needs_server_side
from tether.kube.discovery import Discovery
from tether.kube.resource import GVK

Keyed = list[tuple[ResourceKey, dict[str, Any]]]


@dataclass(frozen=True)
class DesiredSet:
    """One render, keyed and stamped, with each object's hash."""

    objects: Keyed
    errors: tuple[str, ...]
    digests: Mapping[ResourceKey, str]
    too_big: frozenset[ResourceKey] = frozenset()  # annotation over the limit: SSA
    gvks: frozenset[GVK] = frozenset()
    cache_keys: frozenset[tuple[str, str, str, str]] = frozenset()


class Desired:
    """Keys, stamps and hashes renders; remembers the last one per app."""

    def __init__(self, discovery: Discovery) -> None:
        self.discovery = discovery
        self._memo: dict[AppRef, tuple[str, DesiredSet]] = {}

    async def keyed(
        self, app: AppSpec, rendered: Sequence[Mapping[str, Any]]
    ) -> tuple[Keyed, list[str]]:
        """Key and stamp each rendered object; errors name the object and the cause."""
        if not self.discovery.resources():
            await self.discovery.refresh()
        scope = LayeredScope(_DiscoveryScope(self.discovery), scope_from_crds(rendered))
        out: Keyed = []
        errors: list[str] = []
        for obj in rendered:
            try:
                key = resource_key(obj, scope, app.destination_namespace)
            except IdentityError as exc:  # bad object, unknown kind, wrong scope
                errors.append(str(exc))
                continue
            stamped = stamp(obj, app.ref, key)
            if key.namespace:
                stamped["metadata"]["namespace"] = key.namespace
            out.append((key, stamped))
        return out, errors

    async def of(
        self, app: AppSpec, rendered: Sequence[Mapping[str, Any]], render_id: str = ""
    ) -> DesiredSet:
        """The ``DesiredSet`` of ``rendered``, memoized per app for ``render_id``."""
        memo = self._memo.get(app.ref)
        if render_id and memo is not None and memo[0] == render_id:
            return memo[1]
        objects, errors = await self.keyed(app, rendered)
        result = DesiredSet(
            objects,
            tuple(errors),
            {key: desired_hash(obj) for key, obj in objects},
            frozenset(key for key, obj in objects if needs_server_side(obj)),
            frozenset(GVK.of(obj) for _, obj in objects),
            frozenset((k.group, k.kind, k.namespace, k.name) for k, _ in objects),
        )
        if render_id:
            self._memo[app.ref] = (render_id, result)
        return result

    def forget(self, app: AppRef) -> None:
        self._memo.pop(app, None)


class _DiscoveryScope:
    def __init__(self, discovery: Discovery) -> None:
        self._discovery = discovery

    def is_namespaced(self, group_kind: Any) -> bool | None:
        return self._discovery.is_namespaced(group_kind.group, group_kind.kind)
