"""Namespace prune safety: a Namespace holding others' objects is never pruned.

Discovery and the client are fakes at the client seam holding a handful of objects;
``Pruner`` and the ownership rules are the real code.
"""

from __future__ import annotations

from typing import Any

import pytest

from tether.identity import AppRef, ResourceKey, stamp
from tether.kube.changeset import Action, Change, ChangeReason
from tether.kube.errors import Forbidden
from tether.kube.prune import Pruner
from tether.kube.resource import ApiResource

APP = AppRef("team", "web")
NS_KEY = ResourceKey("", "Namespace", "", "shop")
RESOURCES = [
    ApiResource("", "v1", "ConfigMap", "configmaps", True, ("list", "get")),
    ApiResource("", "v1", "ServiceAccount", "serviceaccounts", True, ("list",)),
    ApiResource("", "v1", "Event", "events", True, ("list",)),
    ApiResource("", "v1", "Pod", "pods", True, ("list",)),
    ApiResource("", "v1", "Pod", "pods/log", True, ("get",)),
    ApiResource("apps", "v1", "Deployment", "deployments", True, ("list",)),
    ApiResource("", "v1", "Namespace", "namespaces", False, ("list",)),
]


class FakeDiscovery:
    def resources(self) -> list[ApiResource]:
        return RESOURCES

    def preferred(self, group: str, kind: str) -> ApiResource | None:
        return next((r for r in RESOURCES if (r.group, r.kind) == (group, kind)), None)

    async def resource(self, gvk: Any) -> ApiResource:
        return RESOURCES[-1]


class FakeClient:
    def __init__(self, items: dict[str, list[dict[str, Any]]], forbidden: str = "") -> None:
        self.items = items
        self.forbidden = forbidden
        self.deleted: list[str] = []

    async def list_all(self, res: ApiResource, **_kw: Any) -> tuple[list[dict[str, Any]], str]:
        if res.kind == self.forbidden:
            raise Forbidden("forbidden", reason="Forbidden")
        return [dict(o) for o in self.items.get(res.kind, [])], "1"

    async def delete(self, res: ApiResource, name: str, **_kw: Any) -> None:
        self.deleted.append(name)


def obj(kind: str, name: str, **meta: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": "shop", **meta}}


def ours(kind: str, name: str, group: str = "") -> dict[str, Any]:
    version = f"{group}/v1" if group else "v1"
    body = {"apiVersion": version, **obj(kind, name)}
    return stamp(body, APP, ResourceKey(group, kind, "shop", name))


NAMESPACE = stamp(
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}, APP, NS_KEY
)
CLUSTER_MADE = {
    "ServiceAccount": [obj("ServiceAccount", "default")],
    "ConfigMap": [obj("ConfigMap", "kube-root-ca.crt")],
    "Event": [obj("Event", "web.123")],
    "Pod": [obj("Pod", "web-abc", ownerReferences=[{"kind": "ReplicaSet", "name": "web"}])],
}


async def prune(client: FakeClient, **kw: Any) -> Any:
    pruner = Pruner(client, FakeDiscovery(), APP)  # type: ignore[arg-type]
    return await pruner.prune(NS_KEY, NAMESPACE, **kw)


async def test_a_namespace_holding_only_ours_and_cluster_made_objects_is_pruned() -> None:
    items = {**CLUSTER_MADE, "Deployment": [ours("Deployment", "web", "apps")]}
    client = FakeClient(items)
    change = await prune(client)
    assert change.action is Action.PRUNED and client.deleted == ["shop"]


@pytest.mark.parametrize(
    ("kind", "foreign"),
    [
        ("ConfigMap", obj("ConfigMap", "theirs")),
        ("Deployment", {**ours("Deployment", "copied", "apps"), "kind": "Deployment"}),
        ("Pod", obj("Pod", "standalone")),
    ],
)
async def test_a_namespace_holding_another_owners_object_is_skipped(
    kind: str, foreign: dict[str, Any]
) -> None:
    if foreign["metadata"]["name"] == "copied":
        # tracking marks copied onto an object of another name are not ownership
        foreign["metadata"]["name"] = "other"
    items = {**CLUSTER_MADE, kind: [*CLUSTER_MADE.get(kind, []), foreign]}
    client = FakeClient(items)
    change = await prune(client)
    assert change.action is Action.SKIPPED and client.deleted == []
    name = foreign["metadata"]["name"]
    assert f"{kind} shop/{name}" in change.message
    assert "PruneNonEmptyNamespace=true" in change.message
    # the reason survives the saved operation state, for the PruneSkipped condition
    saved = Change.from_dict(change.to_dict())
    assert saved.reason is ChangeReason.NAMESPACE_NOT_EMPTY == change.reason


async def test_a_kind_that_cannot_be_listed_keeps_the_namespace() -> None:
    client = FakeClient(dict(CLUSTER_MADE), forbidden="Deployment")
    change = await prune(client)
    assert change.action is Action.SKIPPED and "Deployment (cannot list" in change.message
    assert client.deleted == []


async def test_the_per_object_option_allows_the_prune() -> None:
    client = FakeClient({**CLUSTER_MADE, "ConfigMap": [obj("ConfigMap", "theirs")]})
    change = await prune(client, non_empty_namespace=True)
    assert change.action is Action.PRUNED and client.deleted == ["shop"]


async def test_the_message_counts_what_it_does_not_show() -> None:
    client = FakeClient({"ConfigMap": [obj("ConfigMap", f"c{i}") for i in range(8)]})
    change = await prune(client)
    assert "and 3 more" in change.message
