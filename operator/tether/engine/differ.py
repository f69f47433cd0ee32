"""The differ: each desired object's standing against live, confirmed by the server.

``Differ.diff(app, desired, live)`` judges every object locally (three-way
merge, or two-way for server-side apply, through ``tether.kube.compare``),
then confirms each non-empty local patch with one server-side dry-run. The
answer, a ``Confirmation``, is remembered in the engine's ``VerdictStore`` for
(resourceVersion, desired hash): noise counts as in sync and confirmed drift
costs no second dry-run until live or desired change. A warm, in-sync app makes
no API request at all. Objects the app owns that the source no longer has are
listed to prune. Stops at the verdict: applying is the syncer's job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tether.appspec import AppSpec
from tether.constants import TRACKING_ANNOTATION
from tether.diff import DiffError
from tether.engine.desired import DesiredSet, is_hook
from tether.engine.model import DiffReport, ObjectDiff, Standing
from tether.engine.verdicts import Confirmation, Confirmations, VerdictStore
from tether.identity import (
    Owned,
    ResourceKey,
    SharedConflict,
    ownership,
)
from tether.kube.apply import Applier, ApplyItem, ApplyOptions
from tether.kube.client import KubeClient
from tether.kube.compare import Comparer
from tether.kube.discovery import Discovery
from tether.kube.errors import KubeError
from tether.kube.openapi import OpenApiCache
from tether.kube.resource import GVK
from tether.objects import resource_version, wants_server_side


@dataclass(frozen=True)
class _Pending:
    """An out-of-sync local verdict waiting for the server's confirmation."""

    index: int
    key: ResourceKey
    desired: dict[str, Any]
    live: dict[str, Any]
    server_side: bool


class Differ:
    """Judges an app's objects; owns the verdict store."""

    def __init__(
        self,
        discovery: Discovery,
        openapi: OpenApiCache,
        store: VerdictStore,
        *,
        field_manager: str,
    ) -> None:
        self.discovery = discovery
        self.openapi = openapi
        self.store = store
        self.field_manager = field_manager

    async def comparer(self, app: AppSpec, gvks: Iterable[GVK]) -> Comparer:
        """A ``Comparer`` over the cluster's patch metadata for these kinds."""
        meta = await self.openapi.patch_meta((g.group, g.version) for g in gvks)
        return Comparer(meta, self.store.local(app.ref), ignore=app.ignore)

    async def diff(
        self,
        app: AppSpec,
        client: KubeClient,
        desired: DesiredSet,
        live: Mapping[ResourceKey, dict[str, Any]],
        *,
        confirm: bool = True,
    ) -> DiffReport:
        """Every desired object's standing, then the owned objects to prune."""
        compare = await self.comparer(app, desired.gvks)
        confirmations = self.store.confirmations(app.ref)
        entries: list[ObjectDiff] = []
        pending: list[_Pending] = []
        wanted = set()
        hooks, waves = desired.hooks, desired.waves
        app_ssa = app.server_side  # a property: read once, not per object
        for key, obj in desired.objects:
            wanted.add(key)
            wave = waves.get(key, 0) if waves else 0
            if hooks and key in hooks:
                entries.append(ObjectDiff(key, Standing.HOOK, wave=wave))
                continue
            current = live.get(key)
            try:
                entry, server_side = self._judge(
                    app, key, obj, current, compare, desired, wave, app_ssa
                )
            except DiffError as exc:
                entry = ObjectDiff(key, Standing.ERROR, message=str(exc), wave=wave)
                server_side = False
            if (
                confirm
                and current is not None
                and entry.status is Standing.OUT_OF_SYNC
                and confirmations.get(key, resource_version(current), desired.digests.get(key, ""))
                is not Confirmation.DRIFT
            ):
                pending.append(_Pending(len(entries), key, obj, current, server_side))
            entries.append(entry)
        answers = await self._confirm(app, client, compare, pending, desired.digests)
        for item, (confirmation, message) in zip(pending, answers, strict=True):
            digest = desired.digests.get(item.key, "")
            confirmations.put(item.key, resource_version(item.live), digest, confirmation)
            if confirmation is Confirmation.NOISE:
                wave = entries[item.index].wave
                entries[item.index] = ObjectDiff(item.key, Standing.IN_SYNC, wave=wave)
            elif message:
                entries[item.index] = replace(entries[item.index], message=message)
        for key in sorted(k for k in live if k not in wanted):
            if is_hook(live[key]):
                continue  # an earlier operation's hook: its delete policy removes it
            if isinstance(ownership(live[key], app.ref, key), Owned):
                entries.append(
                    ObjectDiff(key, Standing.PRUNE, message="not in the source any more")
                )
        return DiffReport(tuple(entries), desired.errors, dict(desired.objects), desired.problems)

    def _judge(
        self,
        app: AppSpec,
        key: ResourceKey,
        desired: dict[str, Any],
        live: dict[str, Any] | None,
        compare: Comparer,
        desired_set: DesiredSet,
        wave: int,
        app_ssa: bool,
    ) -> tuple[ObjectDiff, bool]:
        if live is None:
            return ObjectDiff(key, Standing.MISSING, message="to be created", wave=wave), False
        verdict = Owned() if _same_tracking(live, desired) else ownership(live, app.ref, key)
        if isinstance(verdict, SharedConflict):
            return ObjectDiff(key, Standing.CONFLICT, message=str(verdict), wave=wave), False
        too_big = desired_set.too_big
        server_side = app_ssa or (bool(too_big) and key in too_big) or wants_server_side(desired)
        digest = desired_set.digests.get(key)
        result = compare.verdict(desired, live, server_side=server_side, digest=digest)
        if result.in_sync:
            return ObjectDiff(key, Standing.IN_SYNC, wave=wave), server_side
        confirmed = self.store.confirmations(app.ref).get(key, resource_version(live), digest or "")
        if confirmed is Confirmation.NOISE:
            return ObjectDiff(key, Standing.IN_SYNC, wave=wave), server_side
        entry = ObjectDiff(
            key, Standing.OUT_OF_SYNC, diff=result.diff, patch=result.effective, wave=wave
        )
        return entry, server_side

    async def _confirm(
        self,
        app: AppSpec,
        client: KubeClient,
        compare: Comparer,
        pending: list[_Pending],
        digests: Mapping[ResourceKey, str],
    ) -> list[tuple[Confirmation, str]]:
        """One dry-run per pending patch; a failed dry-run keeps it out of sync, with why."""
        if not pending:
            return []
        applier = Applier(client, self.discovery, compare, verdicts=_Silent(), app=app.ref)
        gate = asyncio.Semaphore(max(1, app.concurrency))

        async def one(item: _Pending) -> tuple[Confirmation, str]:
            options = ApplyOptions(server_side=item.server_side, field_manager=self.field_manager)
            async with gate:
                try:
                    noise = await applier.confirm(
                        ApplyItem(item.key, item.desired, item.live, options),
                        digest=digests.get(item.key),
                    )
                except KubeError as exc:
                    return Confirmation.FAILED, f"server dry-run failed: {exc}"
            return (Confirmation.NOISE if noise else Confirmation.DRIFT), ""

        return list(await asyncio.gather(*(one(item) for item in pending)))


class _Silent:
    """The differ records confirmations itself (as an enum), not through the applier."""

    def known_in_sync(self, key: ResourceKey, resource_version: str, desired_hash: str) -> bool:
        return False

    def record_in_sync(self, key: ResourceKey, resource_version: str, desired_hash: str) -> None:
        return None


def _same_tracking(live: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Fast path of ``ownership``: live carries exactly the tracking id we stamped."""
    live_id = ((live.get("metadata") or {}).get("annotations") or {}).get(TRACKING_ANNOTATION)
    desired_meta = desired.get("metadata") or {}
    return bool(live_id) and live_id == (desired_meta.get("annotations") or {}).get(
        TRACKING_ANNOTATION
    )


__all__ = ["Confirmations", "Differ"]
