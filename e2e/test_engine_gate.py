"""The health gate against a real control plane: it judges the generation Tether wrote.

A Deployment (wave 0) gates a ConfigMap (wave 1). After a first sync, its image
changes: the gate must not pass on the cache's copy of the previous, fully
Available generation. At the moment the executor reports the gate, the server's
Deployment is read with kubectl: a passed gate must find the new generation
observed and rolled out.

A local watch is usually faster than the gate's first look, so the second test
also pins the cache's copy of the Deployment to the pre-write version (the one
stand-in here: a watch that has not delivered the event yet); the applier, the
server's answers and the gate's direct GET stay real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from engine_helpers import first_node
from tether.sync.executor import ProgressEvent, ProgressKind

pytestmark = pytest.mark.cluster

GATE_LABEL = "e2e.tether.dev/gate-fresh"


def deployment(image: str, gate: str) -> dict[str, Any]:
    """Schedulable only on a node labelled ``GATE_LABEL=gate``."""
    labels = {"app": "fresh"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "fresh", "annotations": {"tether.dev/sync-wave": "0"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {GATE_LABEL: gate},
                    "containers": [{"name": "main", "image": image}],
                },
            },
        },
    }


def config_map(value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "after", "annotations": {"tether.dev/sync-wave": "1"}},
        "data": {"value": value},
    }


@pytest.fixture
def open_node(kubectl: Any, namespace: str) -> Iterator[str]:
    """Label a node so Deployments gated on the namespace's name can schedule."""
    node = first_node(kubectl)
    kubectl.run("label", "node", node, f"{GATE_LABEL}={namespace}", "--overwrite")
    yield namespace
    kubectl.run("label", "node", node, f"{GATE_LABEL}-", check=False)


class GateWitness:
    """On each gate event, reads the Deployment from the server (not from any cache)."""

    def __init__(self, kubectl: Any, namespace: str) -> None:
        self.kubectl = kubectl
        self.namespace = namespace
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind is ProgressKind.GATE:
            live = self.kubectl.json("get", "deployment", "fresh", "-n", self.namespace)
            self.seen.append((event.message, live))


def rolled_out(live: dict[str, Any]) -> bool:
    """The latest spec is observed and its one replica is the only one, and available."""
    status = live.get("status") or {}
    counts = [status.get(f) for f in ("replicas", "updatedReplicas", "availableReplicas")]
    return status.get("observedGeneration") == live["metadata"]["generation"] and counts == [1] * 3


async def test_gate_never_passes_on_the_previous_generation(
    cluster: Any, namespace: str, kubectl: Any, open_node: str
) -> None:
    from tether.appspec import spec_from_flags
    from tether.engine import Engine

    app = spec_from_flags(app="fresh", namespace=namespace, health_timeout=10)
    engine = await Engine.connect(str(cluster.kubeconfig))
    try:
        first = GateWitness(kubectl, namespace)
        objs = [deployment("nginx:1.25", open_node), config_map("1")]
        state = await engine.sync(app, objs, progress=first)
        assert state.phase.value == "Succeeded", state.message
        assert [msg for msg, _ in first.seen] == [""]
        assert rolled_out(first.seen[0][1])

        # new image, and its pod can never schedule: the rollout cannot finish
        stuck = GateWitness(kubectl, namespace)
        objs = [deployment("nginx:1.26", f"{open_node}-closed"), config_map("2")]
        state = await engine.sync(app, objs, progress=stuck)
        assert state.phase.value == "Failed"
        assert "health gate timed out" in state.message
        assert f"Deployment {namespace}/fresh" in state.message
        after = kubectl.json("get", "configmap", "after", "-n", namespace)
        assert after["data"] == {"value": "1"}  # wave 1 never ran
        [(_msg, live)] = stuck.seen
        assert live["metadata"]["generation"] == 2 and not rolled_out(live)

        # the rollout can finish now: the gate passes only once it has
        done = GateWitness(kubectl, namespace)
        objs = [deployment("nginx:1.26", open_node), config_map("3")]
        state = await engine.sync(app, objs, progress=done)
        assert state.phase.value == "Succeeded", state.message
        [(msg, live)] = done.seen
        assert msg == ""
        assert live["metadata"]["generation"] == 3 and rolled_out(live)
        image = live["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == "nginx:1.26"
        after = kubectl.json("get", "configmap", "after", "-n", namespace)
        assert after["data"] == {"value": "3"}
    finally:
        await engine.close()


async def test_gate_reads_the_server_while_the_cache_still_holds_the_old_generation(
    cluster: Any, namespace: str, kubectl: Any, open_node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tether.appspec import spec_from_flags
    from tether.engine import Engine

    app = spec_from_flags(app="lag", namespace=namespace, health_timeout=5)
    engine = await Engine.connect(str(cluster.kubeconfig))
    try:
        objs = [deployment("nginx:1.25", open_node), config_map("1")]
        assert (await engine.sync(app, objs)).phase.value == "Succeeded"
        key = ("apps", "Deployment", namespace, "fresh")
        old = await cached_rollout(engine, key)
        real_get = engine.cache.get
        monkeypatch.setattr(engine.cache, "get", lambda k: old if k == key else real_get(k))

        witness = GateWitness(kubectl, namespace)
        objs = [deployment("nginx:1.26", f"{open_node}-closed"), config_map("2")]
        state = await engine.sync(app, objs, progress=witness)
        assert state.phase.value == "Failed", "the gate passed on the cached old generation"
        assert "health gate timed out" in state.message
        [(_msg, live)] = witness.seen
        assert live["metadata"]["generation"] == 2 and not rolled_out(live)
        after = kubectl.json("get", "configmap", "after", "-n", namespace)
        assert after["data"] == {"value": "1"}
    finally:
        await engine.close()


async def cached_rollout(engine: Any, key: tuple[str, str, str, str]) -> dict[str, Any]:
    """The cache's copy of the Deployment once it shows the finished rollout."""
    for _ in range(100):
        obj = engine.cache.get(key)
        if obj is not None and rolled_out(obj):
            return dict(obj)
        await asyncio.sleep(0.1)
    pytest.fail(f"the cache never showed {key} rolled out")
