"""The first compare's misses against the real API server: one LIST, not a GET each.

A desired object the watch cache does not hold is absent or unlabelled (or, for a
scoped shard, another shard's). The engine answers an app's misses in one place
with one LIST of the unlabelled objects there; these tests check that this keeps
what the GETs showed (an unlabelled object exists and differs; one whose tracking
id names another app is a conflict; an absent one is missing), that an object the
app's sync just wrote is waited for on the watch and, when the watch lags, found by
GET, that a
namespace with more unlabelled objects than the page goes back to GETs, and that
a scoped shard never LISTs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tether.appspec import AppSpec, spec_from_flags
from tether.engine import Engine
from tether.engine.model import DiffReport, Standing
from tether.identity import TRACKING_ANNOTATION, AppRef, ResourceKey, tracking_id
from tether.kube.unlabelled import PAGE_FLOOR

pytestmark = pytest.mark.cluster


def configmap(name: str, value: str = "git") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"v": value}}  # fmt: skip


def standings(report: DiffReport) -> dict[str, Standing]:
    return {entry.key.name: entry.status for entry in report.entries}


def verbs(engine: Engine, *names: str) -> dict[str, int]:
    counter = engine.client.counter
    return {name: counter.total(lambda verb, n=name: verb == n) for name in names}


async def watching(engine: Engine, app: AppSpec) -> None:
    """The cache synced for ConfigMaps, then a clean request count."""
    await engine.watch(app)
    engine.client.counter.reset()


@pytest.fixture
async def engine(cluster: Any) -> AsyncIterator[Engine]:
    made = await Engine.connect(str(cluster.kubeconfig))
    try:
        yield made
    finally:
        await made.close()


async def test_misses_are_one_list_and_keep_unlabelled_and_conflicting_objects_visible(
    engine: Engine, namespace: str, kubectl: Any
) -> None:
    kubectl.run("create", "configmap", "found", "-n", namespace, "--from-literal=v=live")
    other = AppRef(namespace, "other")
    claimed = {**configmap("claimed", "theirs")}
    claimed["metadata"] = {
        "name": "claimed",
        "namespace": namespace,
        # Another app's tracking id, but no app label: the watch cache cannot see it.
        "annotations": {
            TRACKING_ANNOTATION: tracking_id(
                other, ResourceKey("", "ConfigMap", namespace, "claimed")
            )
        },
    }
    kubectl.apply(claimed)
    app = spec_from_flags(app="mine", namespace=namespace)
    await watching(engine, app)

    rendered = [configmap("found"), configmap("claimed"), configmap("new1"), configmap("new2")]
    report = await engine.diff(app, rendered, revision="r1", confirm=False)

    assert standings(report) == {
        "found": Standing.OUT_OF_SYNC,  # exists unlabelled, with other data
        "claimed": Standing.CONFLICT,  # another app tracks it
        "new1": Standing.MISSING,
        "new2": Standing.MISSING,
    }
    assert verbs(engine, "list", "get") == {"list": 1, "get": 0}


class LaggingWatch:
    """The engine's watch events wait until the test lets them through."""

    def __init__(self, engine: Engine) -> None:
        self.cache = engine.cache
        self.apply = engine.cache._apply
        self.held: list[tuple[Any, dict[str, Any]]] = []
        self.cache._apply = self.hold  # type: ignore[method-assign]

    def hold(self, watch: Any, event: dict[str, Any]) -> str:
        self.held.append((watch, event))
        return str(event["object"]["metadata"]["resourceVersion"])

    def release(self) -> None:
        self.cache._apply = self.apply  # type: ignore[method-assign]
        held, self.held = self.held, []
        for watch, event in held:
            self.apply(watch, event)


async def test_the_compare_after_a_sync_waits_for_the_watch_to_bring_what_it_wrote(
    engine: Engine, namespace: str
) -> None:
    app = spec_from_flags(app="waits", namespace=namespace)
    await watching(engine, app)
    rendered = [configmap("one"), configmap("two")]
    lag = LaggingWatch(engine)
    state = await engine.sync(app, rendered)
    assert state.phase.value == "Succeeded" and lag.held
    subscribe = engine.cache.subscribe

    def then_release(label: Any, subscriber: Any) -> Any:
        """The watch catches up once the compare waits for it."""
        unsubscribe = subscribe(label, subscriber)
        asyncio.get_running_loop().call_soon(lag.release)
        return unsubscribe

    engine.cache.subscribe = then_release  # type: ignore[method-assign]
    engine.client.counter.reset()
    after = await engine.diff(app, rendered, revision="r1", confirm=False)
    assert set(standings(after).values()) == {Standing.IN_SYNC}, standings(after)
    assert verbs(engine, "list", "get") == {"list": 0, "get": 0}


async def test_the_compare_after_a_sync_finds_what_it_wrote_before_the_watch_does(
    engine: Engine, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tether.engine.core.WRITE_WATCH_WAIT", 0.05)
    app = spec_from_flags(app="fresh", namespace=namespace)
    await watching(engine, app)
    rendered = [configmap("one"), configmap("two"), configmap("three")]
    lag = LaggingWatch(engine)
    held = lag.held
    try:
        state = await engine.sync(app, rendered)
        assert state.phase.value == "Succeeded"
        engine.client.counter.reset()
        after = await engine.diff(app, rendered, revision="r1", confirm=False)
        assert held, "the writes' watch events were held"
        assert set(standings(after).values()) == {Standing.IN_SYNC}, standings(after)
        assert verbs(engine, "list", "get") == {"list": 0, "get": 3}
    finally:
        lag.release()
    engine.client.counter.reset()
    settled = await engine.diff(app, rendered, revision="r1", confirm=False)
    assert set(standings(settled).values()) == {Standing.IN_SYNC}
    assert verbs(engine, "list", "get") == {"list": 0, "get": 0}  # all in the cache now
    assert app.ref not in engine._unseen_writes  # nothing kept per app once seen


async def test_a_namespace_crowded_with_unlabelled_objects_goes_back_to_gets(
    engine: Engine, namespace: str, kubectl: Any
) -> None:
    for i in range(PAGE_FLOOR + 1):  # more than one page of the LIST for two misses
        kubectl.run("create", "configmap", f"extra{i:02d}", "-n", namespace, "--from-literal=v=x")
    app = spec_from_flags(app="crowded", namespace=namespace)
    await watching(engine, app)
    # The last name sorts after the page: only a GET can show it.
    rendered = [configmap("extra16", "git"), configmap("absent")]

    first = await engine.diff(app, rendered, revision="r1", confirm=False)
    assert standings(first) == {"extra16": Standing.OUT_OF_SYNC, "absent": Standing.MISSING}
    assert verbs(engine, "list", "get") == {"list": 1, "get": 2}

    engine.client.counter.reset()
    second = await engine.diff(app, rendered, revision="r2", confirm=False)
    assert standings(second) == standings(first)
    assert verbs(engine, "list", "get") == {"list": 0, "get": 2}  # remembered as crowded


async def test_a_scoped_shard_gets_each_miss_and_never_lists(
    cluster: Any, namespace: str, kubectl: Any
) -> None:
    kubectl.run("create", "configmap", "found", "-n", namespace, "--from-literal=v=live")
    engine = Engine(await _client(cluster), scoped_cache=True)
    try:
        app = spec_from_flags(app="shard", namespace=namespace)
        await watching(engine, app)
        report = await engine.diff(
            app, [configmap("found"), configmap("new")], revision="r1", confirm=False
        )
        assert standings(report) == {"found": Standing.OUT_OF_SYNC, "new": Standing.MISSING}
        assert verbs(engine, "list", "get") == {"list": 0, "get": 2}
    finally:
        await engine.close()


async def _client(cluster: Any) -> Any:
    from tether.kube.client import KubeClient

    return await KubeClient.connect(str(cluster.kubeconfig))
