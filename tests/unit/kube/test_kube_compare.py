"""The engine's local verdicts (kube.compare) and apply's pure helpers."""

from __future__ import annotations

import copy
import json
from typing import Any

from tether.diff import LAST_APPLIED, IgnoreRule, default_patch_meta, last_applied_annotation
from tether.kube.apply import (
    ANNOTATION_LIMIT,
    needs_server_side,
    read_last_applied,
    same_as_live,
    with_last_applied,
)
from tether.kube.compare import Comparer


def deployment(replicas: int = 2, image: str = "nginx:1.25") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def applied(desired: dict[str, Any], rv: str = "10") -> dict[str, Any]:
    """What the server holds after a client-side apply of ``desired`` (plus defaults)."""
    live = with_last_applied(desired)
    live["metadata"].update(uid="u-1", resourceVersion=rv, generation=1)
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    live["status"] = {"replicas": 2}
    return live


def widget(size: int) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "ns"},
        "spec": {"size": size},
    }


def test_in_sync_after_apply_despite_server_defaults() -> None:
    comparer = Comparer(default_patch_meta())
    assert comparer.verdict(deployment(), applied(deployment())).in_sync


def test_a_live_edit_is_a_strategic_patch_restoring_the_field() -> None:
    comparer = Comparer(default_patch_meta())
    live = applied(deployment())
    live["spec"]["replicas"] = 5
    result = comparer.verdict(deployment(), live)
    assert not result.in_sync
    assert result.content_type == "application/strategic-merge-patch+json"
    assert result.patch["spec"]["replicas"] == 2
    assert "-  replicas: 5" in result.diff and "+  replicas: 2" in result.diff


def test_custom_resources_get_a_merge_patch() -> None:
    comparer = Comparer(default_patch_meta())
    result = comparer.verdict(widget(3), applied_cr(widget(1)))
    assert result.content_type == "application/merge-patch+json"
    assert result.patch["spec"] == {"size": 3}


def applied_cr(obj: dict[str, Any]) -> dict[str, Any]:
    live = with_last_applied(obj)
    live["metadata"].update(uid="u-2", resourceVersion="3")
    return live


class CountingMemo:
    """A verdict memo that counts hits and misses."""

    def __init__(self) -> None:
        self.entries: dict[Any, Any] = {}
        self.hits = self.misses = 0

    def get(self, key: Any) -> Any:
        found = self.entries.get(key)
        self.hits += found is not None
        self.misses += found is None
        return found

    def put(self, key: Any, value: Any) -> None:
        self.entries[key] = value


def test_verdicts_are_memoized_by_digest_uid_and_resource_version() -> None:
    memo = CountingMemo()
    comparer = Comparer(default_patch_meta(), memo)
    live = applied(deployment())
    comparer.verdict(deployment(), live, digest="d1")
    comparer.verdict(deployment(), live, digest="d1")
    assert (memo.hits, memo.misses) == (1, 1)
    edited = copy.deepcopy(live)
    edited["metadata"]["resourceVersion"] = "11"
    edited["spec"]["replicas"] = 7
    assert not comparer.verdict(deployment(), edited, digest="d1").in_sync
    assert memo.misses == 2
    comparer.verdict(deployment(), live, server_side=True, digest="d1")
    assert memo.misses == 3  # server-side verdicts are kept apart from client-side ones


def test_server_side_verdict_ignores_fields_desired_does_not_set() -> None:
    comparer = Comparer(default_patch_meta())
    live = applied(deployment())
    del live["metadata"]["annotations"][LAST_APPLIED]
    live["metadata"]["labels"] = {"other.io/owner": "x"}
    assert comparer.verdict(deployment(), live, server_side=True).in_sync
    live = copy.deepcopy(live)
    live["spec"]["replicas"] = 4
    live["metadata"]["resourceVersion"] = "12"  # every live edit moves the resourceVersion
    result = comparer.verdict(deployment(), live, server_side=True)
    assert not result.in_sync and LAST_APPLIED not in json.dumps(result.patch)
    assert comparer.verdict(deployment(), live, server_side=True) is result  # memoized


def test_ignore_rules_by_pointer_hide_a_drifted_field() -> None:
    live = applied(deployment())
    live["spec"]["replicas"] = 9
    rule = IgnoreRule(group="apps", kind="Deployment", json_pointers=("/spec/replicas",))
    assert Comparer(default_patch_meta(), ignore=(rule,)).verdict(deployment(), live).in_sync
    other = IgnoreRule(group="apps", kind="StatefulSet", json_pointers=("/spec/replicas",))
    assert not Comparer(default_patch_meta(), ignore=(other,)).verdict(deployment(), live).in_sync


def test_ignore_rules_by_manager_use_managed_fields() -> None:
    live = applied(deployment())
    live["spec"]["replicas"] = 9
    live["metadata"]["managedFields"] = [
        {
            "manager": "hpa-controller",
            "operation": "Update",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        }
    ]
    rule = IgnoreRule(managed_fields_managers=("hpa-controller",))
    assert Comparer(default_patch_meta(), ignore=(rule,)).verdict(deployment(), live).in_sync


def test_legacy_call_form_takes_an_explicit_last_applied() -> None:
    comparer = Comparer(default_patch_meta())
    live = applied(deployment())
    live["spec"]["replicas"] = 3
    result = comparer(deployment(), live, read_last_applied(live), None)
    assert result.patch["spec"]["replicas"] == 2


def test_annotation_is_byte_identical_to_kubectl_and_limit_switches_to_server_side() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "<"}}
    text = with_last_applied(obj)["metadata"]["annotations"][LAST_APPLIED]
    assert text == last_applied_annotation(obj)
    assert "\\u003c" in text and text.endswith("\n")
    assert with_last_applied(obj, "given")["metadata"]["annotations"][LAST_APPLIED] == "given"
    assert not needs_server_side(obj)
    big = {**obj, "data": {"blob": "x" * ANNOTATION_LIMIT}}
    assert needs_server_side(big)


def test_read_last_applied_treats_garbage_as_absent() -> None:
    live = {"metadata": {"annotations": {LAST_APPLIED: "{not json"}}}
    assert read_last_applied(live) is None
    assert read_last_applied(None) is None


def test_same_as_live_ignores_bookkeeping_but_not_content() -> None:
    live = applied(deployment())
    preview = copy.deepcopy(live)
    preview["metadata"].update(resourceVersion="99", generation=2, managedFields=[{"m": 1}])
    preview["metadata"]["annotations"][LAST_APPLIED] = "{}"
    assert same_as_live(preview, live)
    preview["spec"]["replicas"] = 3
    assert not same_as_live(preview, live)
