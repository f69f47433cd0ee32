"""Resource keys: group/kind from apiVersion, namespace defaulting, scope errors, CRD scopes."""

from __future__ import annotations

from typing import Any

import pytest

from tether.identity import (
    BUILTIN_SCOPE,
    GroupKind,
    InvalidObjectError,
    NamespaceScopeError,
    ResourceKey,
    StaticScope,
    UnknownKindError,
    resource_key,
    scope_from_crds,
    split_api_version,
    with_source_crds,
)


def obj(
    api_version: str, kind: str, name: str | None = "x", namespace: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if name is not None:
        meta["name"] = name
    if namespace is not None:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def crd(group: str, kind: str, scope: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"group": group, "names": {"kind": kind, "plural": kind.lower() + "s"}}
    if scope is not None:
        spec["scope"] = scope
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.lower()}s.{group}"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("api_version", "expected"),
    [
        ("v1", ("", "v1")),
        ("apps/v1", ("apps", "v1")),
        ("example.com/v1beta2", ("example.com", "v1beta2")),
    ],
)
def test_split_api_version(api_version: str, expected: tuple[str, str]) -> None:
    assert split_api_version(api_version) == expected


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (obj("v1", "ConfigMap", "cm"), ResourceKey("", "ConfigMap", "dest", "cm")),
        (obj("v1", "ConfigMap", "cm", "other"), ResourceKey("", "ConfigMap", "other", "cm")),
        (obj("apps/v1", "Deployment", "web", ""), ResourceKey("apps", "Deployment", "dest", "web")),
        (obj("v1", "Namespace", "team"), ResourceKey("", "Namespace", "", "team")),
        (
            obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader"),
            ResourceKey("rbac.authorization.k8s.io", "ClusterRole", "", "reader"),
        ),
    ],
)
def test_resource_key_defaults_namespace_only_for_namespaced_kinds(
    document: dict[str, Any], expected: ResourceKey
) -> None:
    assert resource_key(document, BUILTIN_SCOPE, "dest") == expected


def test_namespace_on_cluster_scoped_kind_is_an_error_naming_the_object() -> None:
    with pytest.raises(
        NamespaceScopeError, match=r"ClusterRole team/reader.*cluster-scoped.*'team'"
    ):
        resource_key(
            obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader", "team"), BUILTIN_SCOPE, "d"
        )


def test_unknown_kind_is_a_typed_error_with_group_and_kind() -> None:
    with pytest.raises(UnknownKindError) as info:
        resource_key(obj("example.com/v1", "Widget", "w"), BUILTIN_SCOPE, "d")
    assert (info.value.group, info.value.kind) == ("example.com", "Widget")
    assert "Widget w" in str(info.value)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"kind": "ConfigMap", "metadata": {"name": "a"}}, "missing apiVersion"),
        ({"apiVersion": "v1", "metadata": {"name": "a"}}, "missing kind"),
        ({"apiVersion": "v1", "kind": "ConfigMap"}, "missing metadata"),
        (obj("v1", "ConfigMap", None), "missing metadata.name"),
        (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 5}},
            "missing metadata.name",
        ),
        (
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "a", "namespace": ["x"]},
            },
            "namespace",
        ),
    ],
)
def test_malformed_objects_are_rejected(document: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidObjectError, match=message):
        resource_key(document, BUILTIN_SCOPE, "d")


def test_generate_name_without_name_gives_an_empty_name_for_the_planner() -> None:
    document = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "migrate-"}}
    assert resource_key(document, BUILTIN_SCOPE, "d") == ResourceKey("batch", "Job", "d", "")


@pytest.mark.parametrize(
    ("scope", "namespaced"), [("Namespaced", True), ("Cluster", False), (None, True)]
)
def test_crd_in_the_source_declares_the_scope_of_its_kind(
    scope: str | None, namespaced: bool
) -> None:
    source = [crd("example.com", "Widget", scope), obj("v1", "ConfigMap")]
    assert scope_from_crds(source).is_namespaced(GroupKind("example.com", "Widget")) is namespaced
    combined = with_source_crds(BUILTIN_SCOPE, source)
    key = resource_key(obj("example.com/v1", "Widget", "w"), combined, "d")
    assert key.namespace == ("d" if namespaced else "")


def test_discovery_wins_over_a_source_crd() -> None:
    discovery = StaticScope({GroupKind("example.com", "Widget"): False})
    combined = with_source_crds(discovery, [crd("example.com", "Widget", "Namespaced")])
    assert combined.is_namespaced(GroupKind("example.com", "Widget")) is False


def test_malformed_crds_are_ignored_by_scope_from_crds() -> None:
    broken = [
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "spec": "nope",
        },
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "spec": {"group": "g"},
        },
        {
            "apiVersion": "other.io/v1",
            "kind": "CustomResourceDefinition",
            "spec": {"group": "g", "names": {"kind": "K"}},
        },
    ]
    assert dict(scope_from_crds(broken).kinds) == {}


def test_keys_order_and_round_trip() -> None:
    keys = [ResourceKey("apps", "Deployment", "b", "x"), ResourceKey("", "ConfigMap", "a", "y")]
    assert sorted(keys)[0].kind == "ConfigMap"
    for key in keys:
        assert ResourceKey.from_dict(key.to_dict()) == key
        assert ResourceKey.parse(str(key)) == key
    with pytest.raises(InvalidObjectError):
        ResourceKey.parse("nonsense")
    with pytest.raises(InvalidObjectError):
        ResourceKey.from_dict({"group": 1, "kind": "K", "namespace": "", "name": "n"})
