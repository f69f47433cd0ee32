"""Read live objects for the engine: the shared cache first, a GET only when it must.

For a kind the cache watches, the cache is the answer: an object missing from
it is either absent or not labelled as ours (creating it then fails with
AlreadyExists, which the applier turns into a GET and a patch), which saves
one request per object on a cold sync. ``fetch_missing`` asks for a GET even
then (``diff`` wants to show an unlabelled object as it is, and one another app
tracks as a conflict). A kind the cache does not hold yet is fetched.

``get_many`` answers a whole desired set's misses at once: for a watched kind
whose cache holds every labelled object (not a scoped shard), the misses of one
(resource, namespace) are answered by one coalesced LIST of the unlabelled objects
there (``kube.unlabelled``) when that is cheaper; the rest are GETs, at most
``GET_CONCURRENCY`` at a time.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from tether.identity import ResourceKey
from tether.kube.cache import ResourceCache
from tether.kube.client import KubeClient
from tether.kube.discovery import Discovery
from tether.kube.errors import NotFound, UnknownKind
from tether.kube.resource import GVK, ApiResource
from tether.kube.unlabelled import UnlabelledLister

GET_CONCURRENCY = 8  # GETs of one call in flight at once

Wanted = tuple[ResourceKey, Mapping[str, Any]]


class LiveReader:
    """Live objects by key, from the cache or, when needed, one GET."""

    def __init__(
        self,
        client: KubeClient,
        discovery: Discovery,
        cache: ResourceCache,
        *,
        cache_holds_all_labelled: bool = True,
    ) -> None:
        self.client = client
        self.discovery = discovery
        self.cache = cache
        # A scoped cache lacks other shards' labelled objects: a LIST of the
        # unlabelled ones would miss a conflict, so a scoped reader only GETs.
        self.unlabelled = UnlabelledLister(client) if cache_holds_all_labelled else None

    async def get(
        self,
        key: ResourceKey,
        desired: Mapping[str, Any] | None = None,
        *,
        fetch_missing: bool = False,
    ) -> dict[str, Any] | None:
        """The live object at ``key`` (None when absent or not ours to see).

        ``desired`` names the exact version to GET when the cache cannot answer
        (else discovery's preferred version of the kind).
        """
        cached = self.cache.get((key.group, key.kind, key.namespace, key.name))
        if cached is not None or not key.name:
            return cached
        res = await self._resource(key, GVK.of(dict(desired)) if desired is not None else None)
        if res is None or (self.cache.is_synced(res.gvk) and not fetch_missing):
            return None
        try:
            live: dict[str, Any] = await self.client.get(res, key.name, key.namespace or None)
        except NotFound:
            return None
        return live

    async def get_many(
        self, wanted: Sequence[Wanted], *, fetch_missing: bool = False, by_list: bool = True
    ) -> dict[ResourceKey, dict[str, Any]]:
        """``get`` of each key (those found), by cache, shared LISTs and concurrent GETs.

        ``by_list=False`` for objects that may be labelled but not in the cache yet
        (just written): a LIST of unlabelled objects would call them absent.
        """
        found: dict[ResourceKey, dict[str, Any]] = {}
        to_get: list[Wanted] = []
        by_place: defaultdict[tuple[ApiResource, str], list[Wanted]] = defaultdict(list)
        for key, desired in wanted:
            cached = self.cache.get((key.group, key.kind, key.namespace, key.name))
            if cached is not None:
                found[key] = cached
            elif key.name and fetch_missing and by_list and self.unlabelled is not None:
                res = await self._resource(key, GVK.of(dict(desired)))
                if res is not None and self.cache.is_synced(res.gvk) and _listable(res, key):
                    by_place[(res, key.namespace)].append((key, desired))
                else:
                    to_get.append((key, desired))
            else:
                to_get.append((key, desired))
        lists = [self._from_list(res, ns, misses) for (res, ns), misses in by_place.items()]
        for listed, unanswered in await asyncio.gather(*lists):
            found.update(listed)
            to_get.extend(unanswered)
        found.update(await self._get_all(to_get, fetch_missing=fetch_missing))
        return found

    async def _from_list(
        self, res: ApiResource, namespace: str, misses: list[Wanted]
    ) -> tuple[dict[ResourceKey, dict[str, Any]], list[Wanted]]:
        """The unlabelled objects among ``misses`` (absent: not found), or those to GET."""
        assert self.unlabelled is not None
        if not self.unlabelled.worth_listing(res, namespace, len(misses)):
            return {}, misses
        names = await self.unlabelled.names(res, namespace, len(misses))
        if names is None:
            return {}, misses
        listed = {key: names[key.name] for key, _ in misses if key.name in names}
        # A name the LIST lacks is absent, or labelled since: the watch brings it.
        return listed, []

    async def _get_all(
        self, wanted: Sequence[Wanted], *, fetch_missing: bool
    ) -> dict[ResourceKey, dict[str, Any]]:
        if not wanted:
            return {}
        if len(wanted) == 1:
            key, desired = wanted[0]
            single = await self.get(key, desired, fetch_missing=fetch_missing)
            return {key: single} if single is not None else {}
        gate = asyncio.Semaphore(GET_CONCURRENCY)

        async def one(key: ResourceKey, desired: Mapping[str, Any]) -> dict[str, Any] | None:
            async with gate:
                return await self.get(key, desired, fetch_missing=fetch_missing)

        answers = await asyncio.gather(*(one(key, desired) for key, desired in wanted))
        return {
            key: live for (key, _), live in zip(wanted, answers, strict=True) if live is not None
        }

    async def lookup(self, key: ResourceKey) -> dict[str, Any] | None:
        """``get`` without a GET for watched kinds (the executor's ``LiveLookup``)."""
        return await self.get(key)

    async def _resource(self, key: ResourceKey, gvk: GVK | None) -> ApiResource | None:
        if gvk is None:
            return self.discovery.preferred(key.group, key.kind)
        try:
            return await self.discovery.resource(gvk)
        except UnknownKind:
            return None


def _listable(res: ApiResource, key: ResourceKey) -> bool:
    """A LIST of the key's place is the place: a namespace for namespaced kinds."""
    return bool(key.namespace) == res.namespaced
