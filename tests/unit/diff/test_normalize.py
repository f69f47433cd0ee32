"""Normalization, ignoreDifferences, managedFields, last-applied, masking, patch metadata."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from tether.diff import (
    LAST_APPLIED,
    FieldsV1Error,
    IgnoreRule,
    IgnoreRuleError,
    LastAppliedError,
    PatchMeta,
    VerdictCache,
    compare,
    desired_hash,
    last_applied_annotation,
    last_applied_from,
    parse_quantity,
    render_diff,
    same_quantity,
)
from tether.diff import with_last_applied as _with_last_applied
from tether.diff.fieldsv1 import leaf_paths, parse_step


def with_last_applied(obj: dict[str, Any]) -> dict[str, Any]:
    """A live object independent of ``obj`` (with_last_applied copies shallowly)."""
    return copy.deepcopy(_with_last_applied(obj))


def deploy(container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {**spec, "template": {"spec": {"containers": [container]}}},
    }


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("1000m", "1", True),
        ("1Gi", "1073741824", True),
        ("0.5", "500m", True),
        (1, "1", True),
        ("1e3", "1k", True),
        ("128Mi", "134217728", True),
        ("100m", "0.1", True),
        ("1", "2", False),
        ("1Gi", "1G", False),
        ("abc", "abc", False),
        (True, "1", False),
    ],
)
def test_quantities(a: Any, b: Any, same: bool) -> None:
    assert same_quantity(a, b) is same


def test_quantity_parse_rejects_garbage() -> None:
    assert parse_quantity("12x") is None and parse_quantity(None) is None


def test_quantity_spelling_is_in_sync_but_not_rewritten() -> None:
    desired = deploy(
        {
            "name": "a",
            "resources": {"limits": {"cpu": "1000m", "memory": "1Gi"}, "requests": {"cpu": 0.5}},
        }
    )
    live = with_last_applied(desired)
    live["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": "1", "memory": "1073741824"},
        "requests": {"cpu": "500m"},
    }
    assert compare(desired, live, desired, strategic=True).in_sync
    changed = copy.deepcopy(desired)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "x"
    result = compare(changed, live, desired, strategic=True)
    assert not result.in_sync
    sent = result.patch["spec"]["template"]["spec"]["containers"][0]
    assert sent["resources"]["limits"]["cpu"] == "1000m"  # what gets sent is the user's spelling


def test_quantity_outside_quantity_fields_is_compared_literally() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"x": "1000m"},
    }
    live = with_last_applied(desired) | {"data": {"x": "1"}}
    assert not compare(desired, live, desired, strategic=True).in_sync


def test_int_or_string_spelling() -> None:
    desired = deploy(
        {"name": "a"}, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    )
    live = with_last_applied(desired)
    live["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = "1"
    assert compare(desired, live, desired, strategic=True).in_sync
    live["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = "2"
    assert not compare(desired, live, desired, strategic=True).in_sync


def secret(**fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "default"},
        **fields,
    }


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_secret_string_data_matches_live_data() -> None:
    desired = secret(stringData={"password": "hunter2"}, data={"user": b64("admin")})
    live = with_last_applied(secret(data={"user": b64("admin"), "password": b64("hunter2")}))
    live["metadata"]["annotations"][LAST_APPLIED] = last_applied_annotation(desired)
    assert compare(desired, live, desired, strategic=True).in_sync


def test_secret_change_is_masked_in_diff() -> None:
    desired = secret(stringData={"password": "s3cret-new"}, data={"user": b64("admin")})
    live = with_last_applied(secret(data={"user": b64("admin"), "password": b64("s3cret-old")}))
    result = compare(desired, live, desired, strategic=True)
    assert not result.in_sync
    assert result.predicted["data"]["password"] == b64("s3cret-new")
    text = result.diff
    for value in ("s3cret", b64("s3cret-new"), b64("s3cret-old"), b64("admin"), "hunter2"):
        assert value not in text
    assert "-  password: ***" in text.replace('"', "")
    assert "+  password: *** (changed)" in text.replace('"', "")
    assert "   user: ***" in text.replace('"', "")


def test_render_masks_string_data_too() -> None:
    text = render_diff(secret(stringData={"k": "v1"}), secret(stringData={"k": "v2"}))
    assert "v1" not in text and "v2" not in text and "*** (changed)" in text


def test_ignore_json_pointer_keeps_live_value() -> None:
    desired = deploy({"name": "a", "image": "a:1"}, replicas=2)
    live = with_last_applied(desired)
    live["spec"]["replicas"] = 9
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "a:patched"
    rule = IgnoreRule(
        group="apps",
        kind="Deployment",
        json_pointers=("/spec/replicas", "/spec/template/spec/containers/0/image"),
    )
    assert compare(desired, live, desired, strategic=True, ignore=[rule]).in_sync
    other = IgnoreRule(group="apps", kind="StatefulSet", json_pointers=("/spec/replicas",))
    assert not compare(desired, live, desired, strategic=True, ignore=[other]).in_sync


def test_ignore_pointer_prevents_hpa_reset() -> None:
    original = deploy({"name": "a"}, replicas=2)
    desired = deploy({"name": "a"})
    live = with_last_applied(original) | {}
    live["spec"]["replicas"] = 7
    rule = IgnoreRule(kind="Deployment", name="web", json_pointers=("/spec/replicas",))
    result = compare(desired, live, original, strategic=True, ignore=[rule])
    assert "replicas" not in json.dumps(result.patch)


def test_ignore_rule_validates_pointer() -> None:
    with pytest.raises(IgnoreRuleError):
        IgnoreRule(json_pointers=("spec/replicas",))


def test_managed_fields_managers_are_ignored() -> None:
    desired = deploy({"name": "a", "image": "a:1"}, replicas=2)
    live = with_last_applied(desired)
    live["spec"]["replicas"] = 5
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "a:hot"
    live["metadata"]["managedFields"] = [
        {
            "manager": "hpa",
            "operation": "Update",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        },
        {
            "manager": "kubectl",
            "operation": "Update",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:spec": {
                    "f:template": {
                        "f:spec": {
                            "f:containers": {
                                'k:{"name":"a"}': {".": {}, "f:image": {}, "f:name": {}}
                            }
                        }
                    }
                }
            },
        },
    ]
    hpa_only = IgnoreRule(managed_fields_managers=("hpa",))
    result = compare(desired, live, desired, strategic=True, ignore=[hpa_only])
    assert not result.in_sync and "replicas" not in json.dumps(result.patch)
    both = IgnoreRule(managed_fields_managers=("hpa", "kubectl"))
    assert compare(desired, live, desired, strategic=True, ignore=[both]).in_sync


def test_fieldsv1_parser() -> None:
    paths = leaf_paths(
        {
            "f:metadata": {"f:finalizers": {'v:"a.io/x"': {}}},
            "f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}}}},
            "i:0": {},
        }
    )
    assert [tuple((s.kind, s.value) for s in p) for p in paths] == [
        (("f", "metadata"), ("f", "finalizers"), ("v", "a.io/x")),
        (("f", "spec"), ("f", "ports"), ("k", {"port": 80, "protocol": "TCP"})),
        (("i", 0),),
    ]
    for bad in ("x:y", "k:[1]", "k:{bad", "i:z"):
        with pytest.raises(FieldsV1Error):
            parse_step(bad)


def test_last_applied_matches_kubectl_format() -> None:
    obj = {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "c", "namespace": "default"},
        "data": {"html": "<b>&</b>", "n": "é"},
    }
    assert last_applied_annotation(obj) == (
        '{"apiVersion":"v1","data":{"html":"\\u003cb\\u003e\\u0026\\u003c/b\\u003e","n":"é"},'
        '"kind":"ConfigMap","metadata":{"annotations":{},"name":"c","namespace":"default"}}\n'
    )
    annotated = with_last_applied(obj)
    assert last_applied_from(annotated) == json.loads(last_applied_annotation(obj))
    assert last_applied_annotation(annotated) == last_applied_annotation(obj)


def test_last_applied_from_rejects_garbage() -> None:
    live = {"metadata": {"annotations": {LAST_APPLIED: "{not json"}}}
    with pytest.raises(LastAppliedError, match="not valid JSON"):
        last_applied_from(live)
    assert last_applied_from({"metadata": {}}) is None


def test_verdict_cache_memoizes_by_resource_version() -> None:
    desired = deploy({"name": "a", "image": "a:1"})
    live = with_last_applied(desired)
    live["metadata"] |= {"uid": "u", "resourceVersion": "1"}
    cache = VerdictCache()
    digest = desired_hash(desired)
    first = cache.compare(desired, live, strategic=True, digest=digest)
    assert cache.compare(desired, live, strategic=True, digest=digest) is first
    assert (cache.hits, cache.misses) == (1, 1)
    live2 = copy.deepcopy(live)
    live2["metadata"]["resourceVersion"] = "2"
    live2["spec"]["template"]["spec"]["containers"][0]["image"] = "drift"
    assert not cache.compare(desired, live2, strategic=True).in_sync
    assert desired_hash(desired) == desired_hash(json.loads(json.dumps(desired, sort_keys=True)))


def test_patch_meta_from_openapi_v3_follows_refs() -> None:
    doc = {
        "paths": {
            "/apis/x/v1/things/{name}": {
                "patch": {
                    "x-kubernetes-group-version-kind": {
                        "group": "x",
                        "version": "v1",
                        "kind": "Thing",
                    },
                    "requestBody": {"content": {"application/strategic-merge-patch+json": {}}},
                }
            }
        },
        "components": {
            "schemas": {
                "x.Thing": {
                    "x-kubernetes-group-version-kind": [
                        {"group": "x", "version": "v1", "kind": "Thing"}
                    ],
                    "properties": {"spec": {"allOf": [{"$ref": "#/components/schemas/x.Spec"}]}},
                },
                "x.Spec": {
                    "properties": {
                        "items": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/x.Item"},
                            "x-kubernetes-patch-merge-key": "id",
                            "x-kubernetes-patch-strategy": "merge",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["id"],
                        },
                        "plain": {"type": "string"},
                    }
                },
                "x.Item": {
                    "properties": {
                        "tags": {"type": "array", "x-kubernetes-patch-strategy": "merge"}
                    }
                },
            }
        },
    }
    meta = PatchMeta.from_openapi_v3([doc])
    assert meta.supports_strategic("x", "v1", "Thing")
    items = meta.lookup(("x", "v1", "Thing"), ["spec", "items"])
    assert (items.merge_key, items.strategy, items.list_type, items.map_keys) == (
        "id",
        "merge",
        "map",
        ("id",),
    )
    assert meta.lookup(("x", "v1", "Thing"), ["spec", "items", "tags"]).strategy == "merge"
    assert (
        PatchMeta.from_json(meta.to_json()).lookup(("x", "v1", "Thing"), ["spec", "items"]) == items
    )
    live = {
        "apiVersion": "x/v1",
        "kind": "Thing",
        "metadata": {"name": "t"},
        "spec": {"items": [{"id": 1, "v": 1}, {"id": 2}]},
    }
    desired = {**live, "spec": {"items": [{"id": 2}]}}
    result = compare(desired, with_last_applied(live), live, meta=meta, strategic=True)
    assert result.patch["spec"]["items"] == [{"id": 1, "$patch": "delete"}]
