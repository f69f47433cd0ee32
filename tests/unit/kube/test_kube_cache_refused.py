"""A list the server refuses reaches the caller at once, and the cache recovers later.

The client and discovery are fakes at the client seam; ``ResourceCache`` is the real
code, with its real backoff loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tether.kube.cache import ResourceCache
from tether.kube.errors import Forbidden
from tether.kube.resource import GVK, ApiResource

CM = GVK("", "v1", "ConfigMap")
RES = ApiResource("", "v1", "ConfigMap", "configmaps", True, ("list", "watch"))
REFUSAL = (
    'configmaps is forbidden: User "system:serviceaccount:tether-system:tether" '
    'cannot list resource "configmaps" in API group "" at the cluster scope'
)


class FakeDiscovery:
    async def resource(self, gvk: GVK) -> ApiResource:
        return RES

    def invalidate(self) -> None:
        pass


class FakeClient:
    def __init__(self) -> None:
        self.allowed = False
        self.lists = 0
        self.listed = asyncio.Event()

    async def list_all(self, res: ApiResource, **_kw: Any) -> tuple[list[dict[str, Any]], str]:
        self.lists += 1
        self.listed.set()
        if not self.allowed:
            raise Forbidden(REFUSAL, reason="Forbidden")
        item = {"metadata": {"name": "a", "namespace": "ns", "resourceVersion": "5"}}
        return [item], "5"

    async def stream(self, *_a: Any, **_kw: Any) -> Any:
        await asyncio.Event().wait()  # a watch that stays open with no events
        yield {}


@pytest.fixture
async def cache() -> Any:
    client = FakeClient()
    made = ResourceCache(client, FakeDiscovery())  # type: ignore[arg-type]
    made._crd_task = asyncio.create_task(asyncio.sleep(0))  # no CRD watch in this test
    yield made, client
    await made.close()


async def test_a_refused_list_raises_the_servers_words_at_once(
    cache: Any, caplog: pytest.LogCaptureFixture
) -> None:
    made, client = cache
    with caplog.at_level(logging.WARNING, "tether.kube.cache"):
        with pytest.raises(Forbidden) as refused:
            await made.register("ns_app", [CM], timeout=30)
        # wait for two more retries: the failure is logged once, not per retry
        while client.lists < 3:
            client.listed.clear()
            await client.listed.wait()
    assert "cannot list configmaps (the core API group) in all namespaces" in str(refused.value)
    assert "system:serviceaccount:tether-system:tether" in str(refused.value)
    warnings = [r for r in caplog.records if "watch of" in r.getMessage()]
    assert len(warnings) == 1


async def test_the_watch_recovers_when_rbac_allows_it(cache: Any) -> None:
    made, client = cache
    with pytest.raises(Forbidden):
        await made.register("ns_app", [CM], timeout=30)
    client.allowed = True
    client.listed.clear()
    await asyncio.wait_for(client.listed.wait(), 30)  # the next retry lists, allowed now
    await made.wait_synced([CM], timeout=30)
    assert made.is_synced(CM) and made.get(("", "ConfigMap", "ns", "a")) is not None


WATCH_REFUSAL = REFUSAL.replace("cannot list", "cannot watch")


class ListOnlyClient(FakeClient):
    """Lists are allowed, the watch is refused (until ``allowed``)."""

    def __init__(self) -> None:
        super().__init__()
        self.allowed = True
        self.watch_allowed = False

    async def stream(self, *_a: Any, **_kw: Any) -> Any:
        if not self.watch_allowed:
            raise Forbidden(WATCH_REFUSAL, reason="Forbidden")
        yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "6"}}}
        await asyncio.Event().wait()


async def test_a_refused_watch_is_reported_though_the_list_works() -> None:
    client = ListOnlyClient()
    made = ResourceCache(client, FakeDiscovery())  # type: ignore[arg-type]
    made._crd_task = asyncio.create_task(asyncio.sleep(0))
    try:
        await made.register("ns_app", [CM], wait=False)
        while client.lists < 2:  # listed, watch refused, listed again: still reported
            client.listed.clear()
            await client.listed.wait()
        with pytest.raises(Forbidden) as refused:
            await made.wait_synced([CM], timeout=30)
        assert "cannot watch configmaps (the core API group) in all namespaces" in str(
            refused.value
        )
        client.watch_allowed = True  # the next watch streams: the refusal is over
        client.listed.clear()
        await asyncio.wait_for(client.listed.wait(), 30)
        for _ in range(100):
            if made._watches[("", "ConfigMap")].refused is None:
                break
            await asyncio.sleep(0.05)
        await made.wait_synced([CM], timeout=30)
    finally:
        await made.close()
