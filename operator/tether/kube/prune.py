"""Delete objects the app no longer wants, only when they are provably ours.

A prune goes ahead only if the live object carries this app's tracking id for
this very key (``identity.ownership`` says Owned) and its options allow it
(``Prune=false`` makes it a ``skipped`` entry). Propagation is foreground by
default. Results are ``Change`` entries; API errors never raise.

Deleting a Namespace deletes everything in it, whoever owns it. So a Namespace is
pruned only when every object in it is this app's, or is made by the cluster itself
(owned through ownerReferences, the default ServiceAccount, the root CA ConfigMap,
Events, Endpoints). Otherwise the prune is skipped and the change names what is still
there; the per-object sync option ``PruneNonEmptyNamespace=true`` on the Namespace
allows it anyway. A kind that cannot be listed counts as not proven empty.
"""

from __future__ import annotations

from typing import Any

from tether.identity import AppRef, Owned, ResourceKey, ownership
from tether.kube.changeset import Action, Change, ChangeReason
from tether.kube.client import KubeClient
from tether.kube.discovery import Discovery
from tether.kube.errors import KubeError, NotFound
from tether.kube.resource import GVK, ApiResource

_PROPAGATION = {"foreground": "Foreground", "background": "Background", "orphan": "Orphan"}


class Pruner:
    def __init__(self, client: KubeClient, discovery: Discovery, app: AppRef) -> None:
        self._client = client
        self._discovery = discovery
        self._app = app

    async def prune(
        self,
        key: ResourceKey,
        live: dict[str, Any] | None,
        *,
        allowed: bool = True,
        propagation: str = "foreground",
        dry_run: bool = False,
        non_empty_namespace: bool = False,
    ) -> Change:
        if live is None:
            return Change(key, Action.UNCHANGED, "already gone", dry_run)
        if not allowed:
            return Change(key, Action.SKIPPED, "Prune=false", dry_run)
        verdict = ownership(live, self._app, key)
        if not isinstance(verdict, Owned):
            return Change(key, Action.SKIPPED, f"not pruned: not owned by this app ({verdict})")
        if _is_namespace(key) and not non_empty_namespace:
            foreign = await self._foreign_contents(key.name)
            if foreign:
                message = _still_holds(key.name, foreign)
                return Change(
                    key, Action.SKIPPED, message, dry_run, reason=ChangeReason.NAMESPACE_NOT_EMPTY
                )
        try:
            res = await self._discovery.resource(GVK.of(live))
            await self._client.delete(
                res,
                key.name,
                namespace=key.namespace or None,
                propagation=_PROPAGATION.get(propagation.lower(), "Foreground"),
                dry_run=dry_run,
                uid=(live.get("metadata") or {}).get("uid"),
            )
        except NotFound:
            return Change(key, Action.PRUNED, "already gone", dry_run)
        except KubeError as exc:
            return Change.refused(key, exc, dry_run)
        return Change(key, Action.PRUNED, "", dry_run)

    async def _foreign_contents(self, namespace: str) -> list[str]:
        """What in ``namespace`` is neither this app's nor the cluster's own, as labels."""
        found: list[str] = []
        for res in _listable_namespaced(self._discovery):
            try:
                items, _ = await self._client.list_all(res, namespace=namespace, page=250)
            except KubeError as exc:
                found.append(f"{res.kind} (cannot list: {exc.reason})")
                continue
            for obj in items:
                obj.setdefault("kind", res.kind)
                obj.setdefault("apiVersion", res.api_version)
                if not self._ours_or_cluster_made(obj, res, namespace):
                    found.append(f"{res.kind} {namespace}/{_name(obj)}")
        return found

    def _ours_or_cluster_made(self, obj: dict[str, Any], res: ApiResource, ns: str) -> bool:
        meta = obj.get("metadata") or {}
        if meta.get("ownerReferences") or (res.group, res.kind, _name(obj)) in _CLUSTER_MADE:
            return True
        key = ResourceKey(res.group, res.kind, ns, _name(obj))
        return isinstance(ownership(obj, self._app, key), Owned)


# Objects the control plane creates in every namespace, and kinds it derives from others.
_CLUSTER_MADE = frozenset(
    {("", "ServiceAccount", "default"), ("", "ConfigMap", "kube-root-ca.crt")}
)
_DERIVED_KINDS = frozenset(
    {("", "Event"), ("events.k8s.io", "Event"), ("", "Endpoints"), ("metrics.k8s.io", "PodMetrics")}
)
_SHOWN = 5


def _is_namespace(key: ResourceKey) -> bool:
    return key.group == "" and key.kind == "Namespace"


def _listable_namespaced(discovery: Discovery) -> list[ApiResource]:
    """One resource per namespaced group/kind (the preferred version) that can be listed."""
    chosen: dict[tuple[str, str], ApiResource] = {}
    for res in discovery.resources():
        if not res.namespaced or "list" not in res.verbs or "/" in res.plural:
            continue
        if (res.group, res.kind) in _DERIVED_KINDS:
            continue
        preferred = discovery.preferred(res.group, res.kind) or res
        chosen[(res.group, res.kind)] = preferred
    return sorted(chosen.values(), key=lambda r: (r.group, r.kind))


def _still_holds(namespace: str, foreign: list[str]) -> str:
    shown = ", ".join(foreign[:_SHOWN])
    more = f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else ""
    return (
        f"not pruned: namespace {namespace} still holds objects this app does not own: "
        f"{shown}{more} (set PruneNonEmptyNamespace=true on the Namespace to prune anyway)"
    )


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")
