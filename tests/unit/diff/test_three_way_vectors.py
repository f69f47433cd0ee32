"""Table-driven three-way merge vectors, including the cases that trip implementations.

Expected patches follow kubectl's CreateThreeWayMergePatch (and were cross-checked
against k8s.io/apimachinery by test_kubectl_oracle.py's oracle).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tether.diff import (
    LAST_APPLIED,
    MergeKeyMissingError,
    PatchError,
    PreconditionFailedError,
    apply_strategic_patch,
    compare,
    default_patch_meta,
    three_way_json_merge_patch,
    three_way_strategic_patch,
)


def deploy(containers: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    pod = {"containers": containers or [{"name": "app", "image": "nginx:1"}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec, "template": {"spec": pod}},
    }


def root(group: str = "apps", kind: str = "Deployment") -> Any:
    node = default_patch_meta().root(group, "v1", kind)
    assert node is not None
    return node


def pod_spec(patch: dict[str, Any]) -> Any:
    return patch["spec"]["template"]["spec"]


C_A = {"name": "a", "image": "a:1"}
C_B = {"name": "b", "image": "b:1"}


CASES: list[tuple[str, dict[str, Any] | None, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "field removed from manifest, present in live and last-applied -> removed",
        deploy(replicas=3, minReadySeconds=5),
        deploy(replicas=3),
        deploy(replicas=3, minReadySeconds=5),
        {"spec": {"minReadySeconds": None}},
    ),
    (
        "field added by another controller, absent from last-applied -> kept",
        deploy(replicas=3),
        deploy(replicas=3),
        deploy(replicas=3, progressDeadlineSeconds=600),
        {},
    ),
    (
        "containers reordered",
        deploy([C_A, C_B]),
        deploy([C_B, C_A]),
        deploy([C_A, C_B]),
        {
            "spec": {
                "template": {
                    "spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}
                }
            }
        },
    ),
    (
        "one env var removed from the middle",
        deploy(
            [
                {
                    "name": "a",
                    "env": [
                        {"name": "X", "value": "1"},
                        {"name": "Y", "value": "2"},
                        {"name": "Z", "value": "3"},
                    ],
                }
            ]
        ),
        deploy([{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Z", "value": "3"}]}]),
        deploy(
            [
                {
                    "name": "a",
                    "env": [
                        {"name": "X", "value": "1"},
                        {"name": "Y", "value": "2"},
                        {"name": "Z", "value": "3"},
                    ],
                }
            ]
        ),
        {
            "spec": {
                "template": {
                    "spec": {
                        "$setElementOrder/containers": [{"name": "a"}],
                        "containers": [
                            {
                                "name": "a",
                                "$setElementOrder/env": [{"name": "X"}, {"name": "Z"}],
                                "env": [{"name": "Y", "$patch": "delete"}],
                            }
                        ],
                    }
                }
            }
        },
    ),
    (
        "replicas dropped from manifest that had it (kubectl resets it: HPA trap)",
        deploy(replicas=2),
        deploy(),
        deploy(replicas=7),
        {"spec": {"replicas": None}},
    ),
    (
        "replicas never in manifest while an HPA scales it -> untouched",
        deploy(),
        deploy(),
        deploy(replicas=7),
        {},
    ),
    (
        "volume source switched configMap -> secret (retainKeys)",
        deploy(volumes=None)
        | {
            "spec": {
                **deploy()["spec"],
                "template": {
                    "spec": {
                        "containers": [{"name": "app", "image": "nginx:1"}],
                        "volumes": [{"name": "cfg", "configMap": {"name": "c"}}],
                    }
                },
            }
        },
        deploy()
        | {
            "spec": {
                **deploy()["spec"],
                "template": {
                    "spec": {
                        "containers": [{"name": "app", "image": "nginx:1"}],
                        "volumes": [{"name": "cfg", "secret": {"secretName": "s"}}],
                    }
                },
            }
        },
        deploy()
        | {
            "spec": {
                **deploy()["spec"],
                "template": {
                    "spec": {
                        "containers": [{"name": "app", "image": "nginx:1"}],
                        "volumes": [
                            {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}}
                        ],
                    }
                },
            }
        },
        {
            "spec": {
                "template": {
                    "spec": {
                        "$setElementOrder/volumes": [{"name": "cfg"}],
                        "volumes": [
                            {
                                "name": "cfg",
                                "$retainKeys": ["name", "secret"],
                                "configMap": None,
                                "secret": {"secretName": "s"},
                            }
                        ],
                    }
                }
            }
        },
    ),
    (
        "annotation removed",
        {**deploy(), "metadata": {"name": "web", "annotations": {"a": "1", "b": "2"}}},
        {**deploy(), "metadata": {"name": "web", "annotations": {"a": "1"}}},
        {**deploy(), "metadata": {"name": "web", "annotations": {"a": "1", "b": "2", "c": "3"}}},
        {"metadata": {"annotations": {"b": None}}},
    ),
    (
        "finalizer removed from a merge list of primitives",
        {**deploy(), "metadata": {"name": "web", "finalizers": ["x.io/a", "x.io/b"]}},
        {**deploy(), "metadata": {"name": "web", "finalizers": ["x.io/a"]}},
        {**deploy(), "metadata": {"name": "web", "finalizers": ["x.io/a", "x.io/b", "other.io/c"]}},
        {
            "metadata": {
                "$deleteFromPrimitiveList/finalizers": ["x.io/b"],
                "$setElementOrder/finalizers": ["x.io/a"],
            }
        },
    ),
    (
        "container removed emits $patch: delete",
        deploy([C_A, C_B]),
        deploy([C_A]),
        deploy([C_A, C_B]),
        {
            "spec": {
                "template": {
                    "spec": {
                        "$setElementOrder/containers": [{"name": "a"}],
                        "containers": [{"name": "b", "$patch": "delete"}],
                    }
                }
            }
        },
    ),
    (
        "replace-strategy list (tolerations) replaced whole",
        deploy()
        | {
            "spec": {
                **deploy()["spec"],
                "template": {"spec": {"containers": [C_A], "tolerations": [{"key": "a"}]}},
            }
        },
        deploy()
        | {
            "spec": {
                **deploy()["spec"],
                "template": {"spec": {"containers": [C_A], "tolerations": [{"key": "b"}]}},
            }
        },
        deploy()
        | {
            "spec": {
                **deploy()["spec"],
                "template": {"spec": {"containers": [C_A], "tolerations": [{"key": "a"}]}},
            }
        },
        {"spec": {"template": {"spec": {"tolerations": [{"key": "b"}]}}}},
    ),
    (
        "strategy switched to Recreate clears rollingUpdate via retainKeys",
        deploy(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}),
        deploy(strategy={"type": "Recreate"}),
        deploy(
            strategy={
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"},
            }
        ),
        {
            "spec": {
                "strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"}
            }
        },
    ),
]


@pytest.mark.parametrize(
    ("name", "original", "modified", "current", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_three_way_strategic_vectors(
    name: str, original: Any, modified: Any, current: Any, expected: dict[str, Any]
) -> None:
    snapshot = copy.deepcopy((original, modified, current))
    assert three_way_strategic_patch(original, modified, current, root()) == expected
    assert (original, modified, current) == snapshot  # inputs untouched


def test_reorder_applies_in_new_order() -> None:
    patch = three_way_strategic_patch(
        deploy([C_A, C_B]), deploy([C_B, C_A]), deploy([C_A, C_B]), root()
    )
    applied = apply_strategic_patch(deploy([C_A, C_B]), patch, root())
    assert [c["name"] for c in pod_spec(applied)["containers"]] == ["b", "a"]


def test_volume_switch_applies_without_stale_source() -> None:
    _, original, modified, current, _ = CASES[6]
    patch = three_way_strategic_patch(original, modified, current, root())
    volume = pod_spec(apply_strategic_patch(current, patch, root()))["volumes"][0]
    assert volume == {"name": "cfg", "secret": {"secretName": "s"}}


def test_server_only_container_survives_env_removal() -> None:
    current = deploy(
        [C_A, {"name": "b", "env": [{"name": "X"}, {"name": "Y"}]}, {"name": "sidecar"}]
    )
    original = deploy([C_A, {"name": "b", "env": [{"name": "X"}, {"name": "Y"}]}])
    modified = deploy([C_A, {"name": "b", "env": [{"name": "X"}]}])
    patch = three_way_strategic_patch(original, modified, current, root())
    result = pod_spec(apply_strategic_patch(current, patch, root()))["containers"]
    assert [c["name"] for c in result] == ["a", "b", "sidecar"]
    assert result[1]["env"] == [{"name": "X"}]


# ---------------------------------------------------------------- directives on apply


@pytest.mark.parametrize(
    ("live", "patch", "expected"),
    [
        (
            {"metadata": {"labels": {"a": "1"}}},
            {"metadata": {"labels": {"$patch": "replace", "b": "2"}}},
            {"metadata": {"labels": {"b": "2"}}},
        ),
        (
            {"metadata": {"labels": {"a": "1"}}},
            {"metadata": {"labels": {"$patch": "delete"}}},
            {"metadata": {"labels": {}}},
        ),
        (
            {"spec": {"template": {"spec": {"containers": [C_A, C_B]}}}},
            {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "c", "image": "c"}, {"$patch": "replace"}]}
                    }
                }
            },
            {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "c"}]}}}},
        ),
        (
            {"spec": {"template": {"spec": {"containers": [C_A, C_B]}}}},
            {"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}},
            {"spec": {"template": {"spec": {"containers": [C_B]}}}},
        ),
        (
            {"metadata": {"finalizers": ["x", "y", "z"]}},
            {"metadata": {"$deleteFromPrimitiveList/finalizers": ["y"]}},
            {"metadata": {"finalizers": ["x", "z"]}},
        ),
        (
            {"metadata": {"finalizers": ["x", "y"]}},
            {"metadata": {"$setElementOrder/finalizers": ["y", "w", "x"], "finalizers": ["w"]}},
            {"metadata": {"finalizers": ["y", "w", "x"]}},
        ),
        (
            {"spec": {"template": {"spec": {"containers": [C_A, C_B, {"name": "s"}]}}}},
            {
                "spec": {
                    "template": {
                        "spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}
                    }
                }
            },
            {"spec": {"template": {"spec": {"containers": [C_B, C_A, {"name": "s"}]}}}},
        ),
        ({"spec": {"replicas": 3}}, {"spec": {"replicas": None, "paused": None}}, {"spec": {}}),
    ],
    ids=[
        "map-replace",
        "map-delete",
        "list-replace",
        "list-delete",
        "delete-from-primitive",
        "set-order-primitive",
        "set-order-maps",
        "nulls",
    ],
)
def test_apply_directives(live: Any, patch: Any, expected: Any) -> None:
    base = {"apiVersion": "apps/v1", "kind": "Deployment"}
    assert apply_strategic_patch(base | live, patch, root()) == base | expected


def test_retain_keys_rejects_field_outside_list() -> None:
    live = {"spec": {"strategy": {"type": "RollingUpdate"}}}
    with pytest.raises(PatchError, match="retainKeys"):
        apply_strategic_patch(
            live, {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}, root()
        )


def test_missing_merge_key_is_a_typed_error() -> None:
    original = deploy([C_A])
    modified = deploy([{"image": "no-name"}])
    with pytest.raises(MergeKeyMissingError, match="merge key: name"):
        three_way_strategic_patch(original, modified, original, root())


def test_unknown_directive_is_rejected() -> None:
    with pytest.raises(PatchError, match="unknown patch type"):
        apply_strategic_patch(
            {"metadata": {"labels": {"a": "1"}}},
            {"metadata": {"labels": {"$patch": "bogus"}}},
            root(),
        )


# ---------------------------------------------------------------- JSON merge


def cr(spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", **meta},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("original", "modified", "current", "expected"),
    [
        (cr({"a": 1, "b": 2}), cr({"a": 1}), cr({"a": 1, "b": 2, "c": 3}), {"spec": {"b": None}}),
        (cr({"a": 1}), cr({"a": 1}), cr({"a": 1, "c": 3}), {}),
        (cr({"l": [1, 2]}), cr({"l": [2, 1]}), cr({"l": [1, 2]}), {"spec": {"l": [2, 1]}}),
        (None, cr({"a": {"x": 1}}), cr({}), {"spec": {"a": {"x": 1}}}),
        (
            cr({"a": {"x": 1, "y": 2}}),
            cr({"a": {"x": 1}}),
            cr({"a": {"x": 1, "y": 2}}),
            {"spec": {"a": {"y": None}}},
        ),
    ],
)
def test_json_merge_vectors(original: Any, modified: Any, current: Any, expected: Any) -> None:
    assert three_way_json_merge_patch(original, modified, current) == expected


def test_json_merge_preconditions() -> None:
    with pytest.raises(PreconditionFailedError, match=r"metadata\.name"):
        three_way_json_merge_patch(cr({}), {**cr({}), "metadata": {"name": "other"}}, cr({}))
    with pytest.raises(PreconditionFailedError, match="kind"):
        three_way_json_merge_patch(cr({}), {**cr({}), "kind": "Gadget"}, cr({}))


# ---------------------------------------------------------------- compare()


def with_annotation(obj: dict[str, Any]) -> dict[str, Any]:
    from tether.diff import with_last_applied

    return copy.deepcopy(with_last_applied(obj))


def test_compare_in_sync_is_empty_patch() -> None:
    desired = deploy([C_A], replicas=2)
    live = copy.deepcopy(with_annotation(desired))
    live["metadata"] |= {"resourceVersion": "5", "uid": "u1", "managedFields": [{"manager": "x"}]}
    live["status"] = {"replicas": 2}
    live["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}
    result = compare(desired, live, desired, strategic=True)
    assert result.in_sync and result.patch == {} and result.diff == ""
    assert result.content_type == "application/strategic-merge-patch+json"


def test_compare_out_of_sync_carries_annotation_and_prediction() -> None:
    desired = deploy([{"name": "a", "image": "a:2"}])
    live = with_annotation(deploy([C_A]))
    result = compare(desired, live, deploy([C_A]), strategic=True)
    assert not result.in_sync
    assert LAST_APPLIED in result.patch["metadata"]["annotations"]
    assert pod_spec(result.predicted)["containers"][0]["image"] == "a:2"
    assert "-          image: a:1" in result.diff.replace('"', "")
    assert "+          image: a:2" in result.diff.replace('"', "")


def test_compare_annotation_only_difference_is_in_sync() -> None:
    desired = deploy([C_A])
    result = compare(desired, copy.deepcopy(desired), None, strategic=True)
    assert result.in_sync


def test_compare_unknown_kind_uses_json_merge() -> None:
    result = compare(cr({"a": 2}), with_annotation(cr({"a": 1})), cr({"a": 1}), strategic=True)
    assert result.content_type == "application/merge-patch+json"
    assert result.patch["spec"] == {"a": 2}


def test_compare_missing_live_means_create() -> None:
    result = compare(cr({"a": 1}), None, None, strategic=False)
    assert not result.in_sync and not result.exists
    assert result.patch["spec"] == {"a": 1}


def test_empty_map_versus_no_map_is_in_sync() -> None:
    desired = {**deploy(), "metadata": {"name": "web", "namespace": "default", "labels": {}}}
    desired["spec"]["template"]["metadata"] = {"annotations": {}}
    live = with_annotation(deploy())
    assert compare(desired, live, None, strategic=True).in_sync
    live_with_labels = copy.deepcopy(live)
    live_with_labels["metadata"]["labels"] = {"app": "web"}
    assert compare(desired, live_with_labels, None, strategic=True).in_sync


def test_no_map_versus_empty_map_in_last_applied_deletes() -> None:
    original = {**deploy(), "metadata": {"name": "web", "labels": {"a": "1"}}}
    live = with_annotation(original)
    result = compare(deploy(), live, original, strategic=True)
    assert not result.in_sync and result.patch["metadata"]["labels"] is None
