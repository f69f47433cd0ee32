"""Delete objects the app no longer wants, only when they are provably ours.

A prune goes ahead only if the live object carries this app's tracking id for
this very key (``identity.ownership`` says Owned) and its options allow it
(``Prune=false`` makes it a ``skipped`` entry). Propagation is foreground by
default. Results are ``Change`` entries; API errors never raise.
"""

from __future__ import annotations

from typing import Any

from tether.identity import AppRef, Owned, ResourceKey, ownership
from tether.kube.changeset import Action, Change
from tether.kube.client import KubeClient
from tether.kube.discovery import Discovery
from tether.kube.errors import KubeError, NotFound
from tether.kube.resource import GVK

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
    ) -> Change:
        if live is None:
            return Change(key, Action.UNCHANGED, "already gone", dry_run)
        if not allowed:
            return Change(key, Action.SKIPPED, "Prune=false", dry_run)
        verdict = ownership(live, self._app, key)
        if not isinstance(verdict, Owned):
            return Change(key, Action.SKIPPED, f"not pruned: not owned by this app ({verdict})")
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
            return Change(key, Action.FAILED, str(exc), dry_run)
        return Change(key, Action.PRUNED, "", dry_run)
