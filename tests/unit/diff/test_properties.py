"""Hypothesis properties of the three-way merge (strategic and JSON merge)."""

from __future__ import annotations

import copy
import random
from typing import Any

import triples
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.diff import (
    apply_merge_patch,
    apply_strategic_patch,
    compare,
    default_patch_meta,
    three_way_json_merge_patch,
    three_way_strategic_patch,
    with_last_applied,
)

ROOT = default_patch_meta().root("apps", "v1", "Deployment")
MERGE_KEYS = {
    "containers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
}
PRIMITIVE_MERGE = {"finalizers"}


def holds(result: Any, wanted: Any, key: str = "", *, strategic: bool = True) -> bool:
    """Whether ``result`` contains every field of ``wanted`` with its value."""
    if isinstance(wanted, dict):
        return isinstance(result, dict) and all(
            k in result and holds(result[k], v, k, strategic=strategic) for k, v in wanted.items()
        )
    if isinstance(wanted, list) and strategic and key in MERGE_KEYS:
        mk = MERGE_KEYS[key]
        by_key = {item[mk]: item for item in result} if isinstance(result, list) else {}
        return all(w[mk] in by_key and holds(by_key[w[mk]], w, strategic=strategic) for w in wanted)
    if isinstance(wanted, list) and strategic and key in PRIMITIVE_MERGE:
        return isinstance(result, list) and all(w in result for w in wanted)
    return bool(result == wanted)


@settings(max_examples=300, deadline=None)
@given(st.randoms(use_true_random=False))
def test_patched_current_holds_modified(rng: random.Random) -> None:
    original, modified, current = triples.triple(rng)
    assert ROOT is not None
    patch = three_way_strategic_patch(original, modified, current, ROOT)
    assert holds(apply_strategic_patch(current, patch, ROOT), modified)
    json_patch = three_way_json_merge_patch(original, modified, current)
    assert holds(apply_merge_patch(current, json_patch), modified, strategic=False)


def add_unmentioned(
    rng: random.Random, current: dict[str, Any], original: dict[str, Any], modified: dict[str, Any]
) -> None:
    """Add fields neither original nor modified mention, as servers and controllers do."""

    def lookup(doc: Any, path: list[str]) -> Any:
        for p in path:
            doc = doc.get(p) if isinstance(doc, dict) else None
        return doc

    def free(path: list[str]) -> bool:
        # the leaf is unmentioned, and every parent is either in modified or unmentioned
        if lookup(original, path) is not None or lookup(modified, path) is not None:
            return False
        return all(
            isinstance(lookup(modified, path[:i]), dict) or lookup(original, path[:i]) is None
            for i in range(1, len(path))
        )

    extras = [
        (["status"], {"replicas": 1}),
        (["metadata", "uid"], "u-1"),
        (["metadata", "resourceVersion"], "42"),
        (["spec", "progressDeadlineSeconds"], 600),
        (["spec", "revisionHistoryLimit"], 10),
        (["metadata", "labels", "zz-added"], "yes"),
        (["spec", "template", "spec", "dnsPolicy"], "ClusterFirst"),
    ]
    for path, value in extras:
        if rng.random() < 0.7 and free(path):
            node = current
            for p in path[:-1]:
                node = node.setdefault(p, {})
            node[path[-1]] = value
    pod = current["spec"]["template"]["spec"]
    if rng.random() < 0.5:
        for c in pod["containers"]:
            c.setdefault("terminationMessagePath", "/dev/termination-log")
    if rng.random() < 0.3:
        pod["containers"].append({"name": "injected-sidecar", "image": "proxy"})
    if rng.random() < 0.3 and (
        free(["metadata", "finalizers"]) or "finalizers" in modified["metadata"]
    ):
        current["metadata"].setdefault("finalizers", []).append("example.com/zz")


@settings(max_examples=300, deadline=None)
@given(st.randoms(use_true_random=False))
def test_patch_empty_when_current_agrees_on_mentioned_fields(rng: random.Random) -> None:
    original, modified, _ = triples.triple(rng)
    current = copy.deepcopy(with_last_applied(modified))
    add_unmentioned(rng, current, original, modified)
    assert compare(modified, current, original, strategic=True).in_sync
    # JSON merge replaces lists whole, so only map fields may be unmentioned there
    plain = copy.deepcopy(with_last_applied(modified))
    plain["status"] = {"observedGeneration": 3}
    plain["metadata"]["uid"] = "u"
    assert compare(modified, plain, original, strategic=False).in_sync
