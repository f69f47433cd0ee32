"""The differ against fakes at the client seam: verdicts, confirmations, hooks, prunes.

The fakes stand in for the API server only (a client whose PATCH dry-run returns a
chosen preview, discovery and OpenAPI with the built-in patch metadata); the differ,
the comparer, the applier's confirmation and the verdict store are the real code.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tether.appspec import spec_from_flags
from tether.diff import default_patch_meta, desired_hash, with_last_applied
from tether.engine.desired import DesiredSet
from tether.engine.differ import Differ
from tether.engine.model import Standing
from tether.engine.verdicts import VerdictStore
from tether.identity import ResourceKey, stamp
from tether.kube.errors import Invalid
from tether.kube.resource import GVK, ApiResource

APP = spec_from_flags(app="web", namespace="ns")
KEY = ResourceKey("", "ConfigMap", "ns", "cm")
CONFIGMAPS = ApiResource("", "v1", "ConfigMap", "configmaps", True)


def configmap(value: str, name: str = "cm", **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if annotations:
        meta["annotations"] = annotations
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": value}}
    return stamp(obj, APP.ref, ResourceKey("", "ConfigMap", "ns", name))


def live_of(obj: dict[str, Any], rv: str = "5") -> dict[str, Any]:
    live = copy.deepcopy(with_last_applied(obj))
    live["metadata"].update(uid=f"uid-{obj['metadata']['name']}", resourceVersion=rv)
    return live


def desired_set(*objs: dict[str, Any], hooks: tuple[ResourceKey, ...] = ()) -> DesiredSet:
    keyed = [(ResourceKey("", o["kind"], "ns", o["metadata"].get("name", "")), o) for o in objs]
    return DesiredSet(
        keyed,
        (),
        {k: desired_hash(o) for k, o in keyed},
        gvks=frozenset(GVK.of(o) for _, o in keyed),
        hooks=frozenset(hooks),
    )


class FakeClient:
    """Answers PATCH dry-runs with ``preview(live)`` (or raises ``error``); counts them."""

    def __init__(self, live: dict[str, Any], *, changes: bool, error: Exception | None = None):
        self.live = live
        self.changes = changes
        self.error = error
        self.dry_runs = 0

    async def patch(self, res: ApiResource, name: str, body: Any, **kwargs: Any) -> Any:
        assert kwargs.get("dry_run") is True, "the differ must only dry-run"
        self.dry_runs += 1
        if self.error is not None:
            raise self.error
        preview = copy.deepcopy(self.live)
        if self.changes:
            preview["data"] = {"k": "server-side"}
        return preview


class FakeDiscovery:
    async def resource_for(self, obj: Any) -> ApiResource:
        return CONFIGMAPS


class FakeOpenApi:
    async def patch_meta(self, group_versions: Any) -> Any:
        return default_patch_meta()


def differ(store: VerdictStore | None = None) -> Differ:
    return Differ(
        FakeDiscovery(),
        FakeOpenApi(),
        store if store is not None else VerdictStore(),
        field_manager="t",
    )  # type: ignore[arg-type]


async def test_in_sync_object_costs_no_request() -> None:
    obj = configmap("1")
    live = live_of(obj)
    client = FakeClient(live, changes=False)
    report = await differ().diff(APP, client, desired_set(obj), {KEY: live})  # type: ignore[arg-type]
    assert [e.status for e in report.entries] == [Standing.IN_SYNC] and report.in_sync
    assert client.dry_runs == 0


@pytest.mark.parametrize(
    ("changes", "standing"), [(True, Standing.OUT_OF_SYNC), (False, Standing.IN_SYNC)]
)
async def test_a_local_patch_is_confirmed_once_per_version(
    changes: bool, standing: Standing
) -> None:
    live = live_of(configmap("0"))  # applied "0" last time; the source now says "1"
    client = FakeClient(live, changes=changes)
    judge = differ()
    for _ in range(2):
        report = await judge.diff(APP, client, desired_set(configmap("1")), {KEY: live})  # type: ignore[arg-type]
        assert [e.status for e in report.entries] == [standing]
    assert client.dry_runs == 1  # the answer (drift or noise) is remembered
    newer = {**live, "metadata": {**live["metadata"], "resourceVersion": "6"}}
    await judge.diff(APP, client, desired_set(configmap("1")), {KEY: newer})  # type: ignore[arg-type]
    assert client.dry_runs == 2  # a new live version asks again


async def test_a_failed_dry_run_keeps_the_object_out_of_sync_and_is_asked_again() -> None:
    live = live_of(configmap("0"))
    client = FakeClient(live, changes=True, error=Invalid("field is immutable"))
    judge = differ()
    for _ in range(2):
        report = await judge.diff(APP, client, desired_set(configmap("1")), {KEY: live})  # type: ignore[arg-type]
        (entry,) = report.entries
        assert entry.status is Standing.OUT_OF_SYNC
        assert entry.message.startswith("server dry-run failed: ") and "immutable" in entry.message
    assert client.dry_runs == 2


async def test_forgetting_an_app_drops_its_confirmations() -> None:
    live = live_of(configmap("0"))
    client = FakeClient(live, changes=True)
    store = VerdictStore()
    judge = differ(store)
    await judge.diff(APP, client, desired_set(configmap("1")), {KEY: live})  # type: ignore[arg-type]
    store.forget(APP.ref)
    await judge.diff(APP, client, desired_set(configmap("1")), {KEY: live})  # type: ignore[arg-type]
    assert client.dry_runs == 2 and len(store) > 0


async def test_hooks_are_never_drift_and_old_hooks_are_never_pruned() -> None:
    hook_key = ResourceKey("", "ConfigMap", "ns", "")  # generateName: no name yet
    hook = configmap("x", name="")
    hook["metadata"]["generateName"] = "migrate-"
    old_hook = live_of(
        configmap("x", name="migrate-1a2b", **{"argocd.argoproj.io/hook": "PreSync"})
    )
    gone = live_of(configmap("old", name="gone"))
    live = {
        ResourceKey("", "ConfigMap", "ns", "migrate-1a2b"): old_hook,
        ResourceKey("", "ConfigMap", "ns", "gone"): gone,
    }
    report = await differ().diff(
        APP,
        FakeClient({}, changes=False),
        desired_set(hook, hooks=(hook_key,)),
        live,  # type: ignore[arg-type]
    )
    assert [(e.key.name, e.status) for e in report.entries] == [
        ("", Standing.HOOK),
        ("gone", Standing.PRUNE),  # an ordinary object the source dropped
    ]
    assert not report.in_sync  # because of the prune, not the hook
