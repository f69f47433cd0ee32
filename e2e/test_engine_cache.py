"""The shared resource cache survives the API server going away and expired watches.

The outage is real: the cache talks to the API server through a TCP proxy on
127.0.0.1 that the test stops (dropping every open connection and refusing new
ones) and starts again on the same port, while kubectl changes objects
directly. The expired watch is real too: the cache is made to resume a watch
from resourceVersion 1, which the server answers with 410 Gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from ruamel.yaml import YAML

from engine_helpers import crd, eventually
from tether.kube.cache import CacheEvent, ResourceCache
from tether.kube.client import KubeClient
from tether.kube.discovery import Discovery
from tether.kube.resource import GVK

pytestmark = pytest.mark.cluster

CONFIGMAP = GVK("", "v1", "ConfigMap")


class TcpProxy:
    """A plain TCP relay to the API server that can be stopped and restarted."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


def kubeconfig_via(source: Path, target: Path, server: str) -> Path:
    yaml = YAML(typ="safe")
    config = yaml.load(source.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = server
    with target.open("w") as out:
        yaml.dump(config, out)
    return target


def labelled_cm(name: str, namespace: str, app: str, value: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"tether.dev/app": app}},
        "data": {"v": value},
    }


async def test_cache_recovers_after_the_api_server_goes_away(
    cluster: Any, namespace: str, kubectl: Any, tmp_path: Path
) -> None:
    upstream = urlsplit(cluster.server)
    proxy = TcpProxy(upstream.hostname or "127.0.0.1", upstream.port or 443)
    await proxy.start()
    config = kubeconfig_via(
        Path(cluster.kubeconfig), tmp_path / "via-proxy", f"https://127.0.0.1:{proxy.port}"
    )
    app = f"{namespace}_cache"
    kubectl.apply(labelled_cm("before", namespace, app))
    client = await KubeClient.connect(str(config))
    cache = ResourceCache(client, Discovery(client))
    events: list[CacheEvent] = []
    cache.subscribe(app, events.append)
    try:
        await cache.register(app, [CONFIGMAP], timeout=30)
        key = ("", "ConfigMap", namespace, "before")
        assert cache.get(key) is not None
        relists = cache.stats().relists

        await proxy.stop()
        kubectl.run("delete", "configmap", "before", "-n", namespace)
        kubectl.apply(labelled_cm("during", namespace, app))
        await asyncio.sleep(1.0)
        assert cache.get(key) is not None  # nothing can be seen while the server is away

        await proxy.start()  # same port: the cache reconnects on its own
        during = ("", "ConfigMap", namespace, "during")
        await eventually(
            "the cache to re-list after the outage",
            lambda: cache.get(during) is not None and cache.get(key) is None,
        )
        assert cache.stats().relists > relists
        assert any(e.type == "DELETED" and e.key == key for e in events)
        assert {k[3] for k in cache.keys(app)} == {"during"}

        kubectl.apply(labelled_cm("during", namespace, app, value="2"))
        await eventually(
            "the watch to follow live edits again",
            lambda: (cache.get(during) or {}).get("data", {}).get("v") == "2",
        )
    finally:
        await cache.close()
        await client.close()
        with contextlib.suppress(Exception):
            await proxy.stop()


class StaleResume(ResourceCache):
    """Resumes its first watch from resourceVersion 1, long expired on a live server."""

    stale_used = False
    gone_events = 0

    def _apply(self, watch: Any, event: dict[str, Any]) -> str:
        if event.get("type") == "ERROR" and (event.get("object") or {}).get("code") == 410:
            self.gone_events += 1
        return super()._apply(watch, event)

    async def _relist(self, watch: Any) -> str:
        rv = await super()._relist(watch)
        if not self.stale_used:
            self.stale_used = True
            return "1"
        return rv


async def test_expired_watch_gets_410_and_the_cache_relists(
    cluster: Any, namespace: str, kubectl: Any
) -> None:
    # A new kind's watch cache starts at the current revision, so resourceVersion 1
    # is certainly too old for it.
    group = f"gone{uuid.uuid4().hex[:8]}.example.com"
    kubectl.apply(
        crd(
            group,
            "Thing",
            "things",
            {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        )
    )
    kubectl.run("wait", "--for=condition=Established", f"crd/things.{group}", "--timeout=30s")
    app = f"{namespace}_gone"
    client = await KubeClient.connect(str(cluster.kubeconfig))
    cache = StaleResume(client, Discovery(client))
    try:
        await cache.register(app, [GVK(group, "v1", "Thing")], timeout=30)
        await eventually("a 410 on the stale watch", lambda: cache.stats().relists >= 2)
        gone_responses = client.counter.snapshot().get(("watch", 410), 0)
        assert gone_responses + cache.gone_events >= 1  # the server really said 410 Gone
        thing = {
            "apiVersion": f"{group}/v1",
            "kind": "Thing",
            "metadata": {
                "name": "after",
                "namespace": namespace,
                "labels": {"tether.dev/app": app},
            },
        }
        kubectl.apply(thing)
        await eventually(
            "the re-listed watch to see a new object",
            lambda: cache.get((group, "Thing", namespace, "after")) is not None,
        )
    finally:
        await cache.close()
        await client.close()
        kubectl.run("delete", "crd", f"things.{group}", "--wait=false", check=False)


async def test_a_scoped_cache_keeps_only_the_objects_of_registered_apps(
    cluster: Any, namespace: str, kubectl: Any
) -> None:
    """One shard's cache: the watch sees every labelled ConfigMap, the cache keeps its
    own apps' only; an app registered later gets its objects; one that leaves takes
    them along."""
    mine, other = f"{namespace}_mine", f"{namespace}_other"
    kubectl.apply(labelled_cm("a", namespace, mine))
    kubectl.apply(labelled_cm("b", namespace, other))
    client = await KubeClient.connect(str(cluster.kubeconfig))
    cache = ResourceCache(client, Discovery(client), scoped=True)
    key_a, key_b = (("", "ConfigMap", namespace, n) for n in ("a", "b"))
    try:
        await cache.register(mine, [CONFIGMAP], timeout=30)
        assert cache.get(key_a) is not None and cache.get(key_b) is None
        # Changes to another app's objects pass the watch by: a positive signal that the
        # watch is past them is a later change to our own object.
        kubectl.apply(labelled_cm("b", namespace, other, value="2"))
        kubectl.apply(labelled_cm("c", namespace, other))
        kubectl.apply(labelled_cm("a", namespace, mine, value="2"))
        await eventually(
            "our own change to arrive",
            lambda: (cache.get(key_a) or {}).get("data") == {"v": "2"},
        )
        assert cache.keys(other) == set() and cache.keys(mine) == {key_a}

        await cache.register(other, [CONFIGMAP], timeout=30)  # the kind was listed already
        assert cache.keys(other) == {key_b, ("", "ConfigMap", namespace, "c")}
        assert (cache.get(key_b) or {}).get("data") == {"v": "2"}

        await cache.unregister(other)
        assert cache.keys(other) == set() and cache.get(key_b) is None
        assert cache.get(key_a) is not None
    finally:
        await cache.close()
        await client.close()
