"""The shared resource cache against a fake list+watch at the client seam.

The fake client serves one list and then the watch events a test pushes into a
queue; the cache (relist, follow, 410 handling, indexes, subscribers) is the real
code.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from engine_waits import settle

from tether.kube.cache import CRD_GVK, CacheEvent, ResourceCache
from tether.kube.errors import UnknownKind
from tether.kube.resource import GVK, ApiResource

CONFIGMAPS = ApiResource("", "v1", "ConfigMap", "configmaps", True)
CM = GVK("", "v1", "ConfigMap")


def cm(name: str, rv: str, app: str = "ns_web") -> dict[str, Any]:
    meta = {
        "name": name,
        "namespace": "ns",
        "resourceVersion": rv,
        "labels": {"tether.dev/app": app},
    }
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"rv": rv}}


class FakeWatchClient:
    """``list_all`` returns ``listed``; ``stream`` yields what tests put on ``events``."""

    def __init__(self, listed: list[dict[str, Any]]) -> None:
        self.listed = listed
        self.lists = 0
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def list_all(self, res: ApiResource, **_query: Any) -> tuple[list[dict[str, Any]], str]:
        self.lists += 1
        return [dict(o) for o in self.listed], "10"

    async def stream(self, path: str, **_options: Any) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self.events.get()


class FakeDiscovery:
    async def resource(self, gvk: GVK) -> ApiResource:
        if gvk == CRD_GVK:
            raise UnknownKind("no CRDs in this fake")
        return CONFIGMAPS

    def invalidate(self) -> None:
        return None


async def test_list_then_watch_keeps_the_index_and_notifies_the_app() -> None:
    client = FakeWatchClient([cm("a", "1")])
    cache = ResourceCache(client, FakeDiscovery())  # type: ignore[arg-type]
    seen: list[CacheEvent] = []
    cache.subscribe("ns_web", seen.append)
    try:
        await cache.register("ns_web", [CM], timeout=5)
        assert cache.is_synced(CM) and cache.keys("ns_web") == {("", "ConfigMap", "ns", "a")}
        listed = len(seen)
        await client.events.put({"type": "MODIFIED", "object": cm("a", "2")})
        await client.events.put({"type": "ADDED", "object": cm("b", "3")})
        await settle(lambda: len(seen) == listed + 2)
        assert cache.get(("", "ConfigMap", "ns", "a"))["data"] == {"rv": "2"}  # type: ignore[index]
        await client.events.put({"type": "DELETED", "object": cm("a", "4")})
        await settle(lambda: len(seen) == listed + 3)
        assert seen[-1].obj is None and cache.keys("ns_web") == {("", "ConfigMap", "ns", "b")}
    finally:
        await cache.close()


async def test_an_expired_watch_relists_and_drops_what_is_gone() -> None:
    client = FakeWatchClient([cm("a", "1"), cm("b", "1")])
    cache = ResourceCache(client, FakeDiscovery())  # type: ignore[arg-type]
    try:
        await cache.register("ns_web", [CM], timeout=5)
        client.listed = [cm("b", "5")]  # "a" was deleted while the watch was down
        await client.events.put({"type": "ERROR", "object": {"code": 410, "message": "too old"}})
        await settle(lambda: client.lists == 2 and len(cache.keys("ns_web")) == 1)
        assert cache.get(("", "ConfigMap", "ns", "b"))["data"] == {"rv": "5"}  # type: ignore[index]
    finally:
        await cache.close()


async def test_unregistering_the_last_app_stops_the_watch_and_forgets_its_objects() -> None:
    client = FakeWatchClient([cm("a", "1")])
    cache = ResourceCache(client, FakeDiscovery())  # type: ignore[arg-type]
    try:
        await cache.register("ns_web", [CM], timeout=5)
        await cache.unregister("ns_web")
        assert not cache.is_synced(CM) and cache.get(("", "ConfigMap", "ns", "a")) is None
    finally:
        await cache.close()


def subscribed_cache() -> tuple[FakeWatchClient, ResourceCache, list[CacheEvent]]:
    """A cache listing ConfigMap "a" (rv 1), and the events app ns_web is told of."""
    client = FakeWatchClient([cm("a", "1")])
    cache = ResourceCache(client, FakeDiscovery())  # type: ignore[arg-type]
    seen: list[CacheEvent] = []
    cache.subscribe("ns_web", seen.append)
    return client, cache, seen


async def test_objects_are_kept_packed_and_read_back_as_fresh_equal_copies() -> None:
    client, cache, seen = subscribed_cache()
    key = ("", "ConfigMap", "ns", "a")
    try:
        await cache.register("ns_web", [CM], timeout=5)
        assert cache.get(key) == cm("a", "1") == seen[-1].obj
        first = cache.get(key)
        assert first is not None and first is not cache.get(key)
        first["data"]["rv"] = "changed by a caller"  # must not reach the cache
        assert cache.get(key) == cm("a", "1") and cache.objects("ns_web") == [cm("a", "1")]
        # The same resourceVersion again changes nothing and notifies nobody.
        listed = len(seen)
        await client.events.put({"type": "MODIFIED", "object": cm("a", "1")})
        await client.events.put({"type": "MODIFIED", "object": cm("a", "2")})
        await settle(lambda: len(seen) > listed)
        assert [e.type for e in seen[listed:]] == ["MODIFIED"] and seen[-1].obj == cm("a", "2")
        assert cache.get(key) == cm("a", "2")
        stats = cache.stats()
        assert stats.objects == 1 and 0 < stats.approx_bytes < len(str(cm("a", "2")))
    finally:
        await cache.close()


async def test_an_object_moving_to_another_app_leaves_the_first_one() -> None:
    client, cache, seen = subscribed_cache()
    try:
        await cache.register("ns_web", [CM], timeout=5)
        await client.events.put({"type": "MODIFIED", "object": cm("a", "2", app="ns_db")})
        await settle(lambda: seen[-1].type == "DELETED")
        assert cache.keys("ns_web") == set() and cache.keys("ns_db") == {
            ("", "ConfigMap", "ns", "a")
        }
        assert cache.objects("ns_db") == [cm("a", "2", app="ns_db")]
    finally:
        await cache.close()
