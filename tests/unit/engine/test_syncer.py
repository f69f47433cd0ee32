"""The syncer and the applier against an in-memory API server at the client seam."""

from __future__ import annotations

from typing import Any

from fakeapi import CONFIGMAPS, FakeApi, FakeDiscovery

from tether.appspec import spec_from_flags
from tether.diff import default_patch_meta, desired_hash
from tether.engine.desired import DesiredSet
from tether.engine.differ import Differ
from tether.engine.syncer import Syncer
from tether.engine.verdicts import VerdictStore
from tether.identity import APP_LABEL, ResourceKey, stamp
from tether.kube.apply import Applier, ApplyItem
from tether.kube.changeset import Action
from tether.kube.compare import Comparer
from tether.kube.resource import GVK
from tether.sync.state import OperationPhase

APP = spec_from_flags(app="web", namespace="ns")


def configmap(name: str, value: str = "1") -> dict[str, Any]:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"},
           "data": {"k": value}}  # fmt: skip
    return stamp(obj, APP.ref, ResourceKey("", "ConfigMap", "ns", name))


def desired(*objs: dict[str, Any], errors: tuple[str, ...] = ()) -> DesiredSet:
    keyed = [(ResourceKey("", "ConfigMap", "ns", o["metadata"]["name"]), o) for o in objs]
    return DesiredSet(
        keyed,
        errors,
        {k: desired_hash(o) for k, o in keyed},
        gvks=frozenset(GVK.of(o) for _, o in keyed),
    )


class FakeOpenApi:
    async def patch_meta(self, group_versions: Any) -> Any:
        return default_patch_meta()


class FakeLive:
    """The executor's lookup: what the fake server holds."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api

    async def lookup(self, key: ResourceKey) -> dict[str, Any] | None:
        return self.api.objects.get(("configmaps", key.namespace, key.name))


def syncer(api: FakeApi) -> Syncer:
    store = VerdictStore()
    differ = Differ(FakeDiscovery(), FakeOpenApi(), store, field_manager="t")  # type: ignore[arg-type]
    return Syncer(FakeDiscovery(), differ, FakeLive(api), store)  # type: ignore[arg-type]


async def run(api: FakeApi, want: DesiredSet, prune: bool = False) -> Any:
    live = {
        ResourceKey("", "ConfigMap", ns, name): obj for (_, ns, name), obj in api.objects.items()
    }
    sync = syncer(api)
    plan = sync.plan(APP, want, live, "r1", prune=prune)
    return await sync.sync(
        APP, api, plan, want.errors, "plan-1", "r1",  # type: ignore[arg-type]
        state=None, persist=lambda _s: None, dry_run=False, server_side=False, progress=None,
    )  # fmt: skip


async def test_sync_creates_what_is_missing_once() -> None:
    api = FakeApi()
    state = await run(api, desired(configmap("a"), configmap("b")))
    assert state.phase is OperationPhase.SUCCEEDED, state.message
    assert sorted(api.writes()) == [("create", "a"), ("create", "b")]
    assert api.objects[("configmaps", "ns", "a")]["metadata"]["labels"][APP_LABEL]


async def test_invalid_objects_refuse_the_whole_sync() -> None:
    api = FakeApi()
    state = await run(api, desired(configmap("a"), errors=("bad.yaml[doc 1]: no name",)))
    assert state.phase is OperationPhase.FAILED
    assert state.message.startswith("invalid objects, nothing applied: bad.yaml[doc 1]")
    assert api.writes() == []


async def test_prune_deletes_only_owned_objects_the_source_dropped() -> None:
    api = FakeApi()
    api.put(CONFIGMAPS, configmap("old"))
    foreign = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "ns"},
    }
    api.put(CONFIGMAPS, foreign)
    state = await run(api, desired(configmap("a")), prune=True)
    assert state.phase is OperationPhase.SUCCEEDED, state.message
    assert ("delete", "old") in api.writes() and ("delete", "x") not in api.writes()


async def test_applier_adopts_an_unlabelled_object_by_get_and_patch_and_says_so() -> None:
    api = FakeApi()
    api.put(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "a", "namespace": "ns"}, "data": {"k": "0"}})  # fmt: skip
    applier = Applier(api, FakeDiscovery(), Comparer(default_patch_meta()), app=APP.ref)  # type: ignore[arg-type]
    key = ResourceKey("", "ConfigMap", "ns", "a")
    change = await applier.apply(ApplyItem(key, configmap("a"), None))
    assert change.action is Action.ADOPTED, change  # it was nobody's: reported as adopted
    # AlreadyExists -> GET -> the patch confirmed by one dry-run -> the patch
    assert [(verb, dry) for verb, _, dry in api.calls] == [
        ("create", False),
        ("get", False),
        ("patch", True),
        ("patch", False),
    ]
    assert api.objects[("configmaps", "ns", "a")]["data"] == {"k": "1"}
