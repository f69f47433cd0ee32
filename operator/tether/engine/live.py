"""Read live objects for the engine: the shared cache first, a GET only when it must.

For a kind the cache watches, the cache is the answer: an object missing from
it is either absent or not labelled as ours (creating it then fails with
AlreadyExists, which the applier turns into a GET and a patch), which saves
one request per object on a cold sync. ``fetch_missing`` asks for a GET even
then (``diff`` wants to show an unlabelled object as it is). A kind the cache
does not hold yet is fetched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether.identity import ResourceKey
from tether.kube.cache import ResourceCache
from tether.kube.client import KubeClient
from tether.kube.discovery import Discovery
from tether.kube.errors import NotFound, UnknownKind
from tether.kube.resource import GVK, ApiResource


class LiveReader:
    """Live objects by key, from the cache or, when needed, one GET."""

    def __init__(self, client: KubeClient, discovery: Discovery, cache: ResourceCache) -> None:
        self.client = client
        self.discovery = discovery
        self.cache = cache

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
