"""Differential test: tether's three-way patch versus ``kubectl apply`` on a real server.

For 200+ generated (original, modified, current) Deployment triples, two copies of the
current object are created (one per namespace) carrying ``original`` as their
last-applied annotation. Tether computes its patch for one copy and sends it; the
pinned kubectl applies ``modified`` to the other. The resulting live objects must be
identical (managedFields, resourceVersion, uid, timestamps and status aside). Where
tether says "in sync", kubectl's apply must not have changed anything but the
last-applied annotation.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tether.diff import LAST_APPLIED, compare, last_applied_annotation, last_applied_from

if TYPE_CHECKING:
    from conftest import Kubectl

pytestmark = pytest.mark.cluster

COUNT = 200
_spec = importlib.util.spec_from_file_location(
    "diff_triples", Path(__file__).parent.parent / "tests/unit/diff/triples.py"
)
assert _spec is not None and _spec.loader is not None
triples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(triples)


def _valid(obj: dict[str, Any], name: str, namespace: str) -> dict[str, Any]:
    """Rename and make the pod template pass validation (mounted volumes exist)."""
    out = copy.deepcopy(obj)
    out["metadata"]["name"] = name
    out["metadata"]["namespace"] = namespace
    pod = out["spec"]["template"]["spec"]
    mounted = {m["name"] for c in pod["containers"] for m in c.get("volumeMounts", [])}
    have = {v["name"] for v in pod.get("volumes", [])}
    for missing in sorted(mounted - have):
        pod.setdefault("volumes", []).append({"name": missing, "emptyDir": {}})
    return out


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out["metadata"]
    for key in (
        "managedFields",
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "namespace",
        "generation",
    ):
        meta.pop(key, None)
    annotations = meta.get("annotations", {})
    annotations.pop("deployment.kubernetes.io/revision", None)
    if LAST_APPLIED in annotations:
        applied = json.loads(annotations[LAST_APPLIED])
        applied.get("metadata", {}).pop("namespace", None)
        annotations[LAST_APPLIED] = applied
    return out


def _list(objs: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})


def test_tether_patch_equals_kubectl_apply(kubectl: Kubectl, namespace: str) -> None:
    ours_ns, theirs_ns = namespace, f"{namespace}-k"
    kubectl.run("create", "namespace", theirs_ns)
    rng = random.Random(4242)
    cases = []
    for i in range(COUNT):
        original, modified, current = triples.triple(rng)
        name = f"web-{i}"
        cases.append(
            {
                ns: {
                    "original": _valid(original, name, ns) if i % 10 else None,
                    "modified": _valid(modified, name, ns),
                    "current": _valid(current, name, ns),
                }
                for ns in (ours_ns, theirs_ns)
            }
        )
    try:
        _run(kubectl, cases, ours_ns, theirs_ns)
    finally:
        _drop_finalizers(kubectl, ours_ns, theirs_ns)
        kubectl.run("delete", "namespace", theirs_ns, "--wait=false", check=False)


def _run(kubectl: Kubectl, cases: list[dict[str, Any]], ours_ns: str, theirs_ns: str) -> None:
    seeds = []
    for case in cases:
        for ns in (ours_ns, theirs_ns):
            obj = copy.deepcopy(case[ns]["current"])
            if case[ns]["original"] is not None:
                obj["metadata"].setdefault("annotations", {})[LAST_APPLIED] = (
                    last_applied_annotation(case[ns]["original"])
                )
            seeds.append(obj)
    kubectl.run("create", "-f", "-", input=_list(seeds))

    live = {
        o["metadata"]["name"]: o for o in kubectl.json("get", "deployments", "-n", ours_ns)["items"]
    }
    before_theirs = {
        o["metadata"]["name"]: o
        for o in kubectl.json("get", "deployments", "-n", theirs_ns)["items"]
    }
    verdicts = {}
    for case in cases:
        desired = case[ours_ns]["modified"]
        current = live[desired["metadata"]["name"]]
        verdicts[desired["metadata"]["name"]] = compare(
            desired, current, last_applied_from(current), strategic=True
        )

    def send(name: str) -> None:
        raw = verdicts[name].raw_patch
        if raw:
            kubectl.run(
                "patch",
                "deployment",
                name,
                "-n",
                ours_ns,
                "--type",
                "strategic",
                "-p",
                json.dumps(raw),
                check=False,
            )

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(send, verdicts))
    # Some generated changes are invalid; both paths must then leave the object alone.
    kubectl.run(
        "apply", "-f", "-", input=_list([c[theirs_ns]["modified"] for c in cases]), check=False
    )

    after_ours = {
        o["metadata"]["name"]: o for o in kubectl.json("get", "deployments", "-n", ours_ns)["items"]
    }
    after_theirs = {
        o["metadata"]["name"]: o
        for o in kubectl.json("get", "deployments", "-n", theirs_ns)["items"]
    }
    differing = [n for n in verdicts if _comparable(after_ours[n]) != _comparable(after_theirs[n])]
    wrong_in_sync = []
    for name, verdict in verdicts.items():
        if verdict.in_sync:
            before, after = _comparable(before_theirs[name]), _comparable(after_theirs[name])
            before["metadata"].get("annotations", {}).pop(LAST_APPLIED, None)
            after["metadata"].get("annotations", {}).pop(LAST_APPLIED, None)
            if before != after:
                wrong_in_sync.append(name)
    changed = sum(1 for v in verdicts.values() if not v.in_sync)
    assert changed > len(cases) // 2, "generator produced too few real changes"
    if differing:
        n = differing[0]
        pytest.fail(
            f"{len(differing)}/{len(cases)} objects differ from kubectl apply; first {n}:\n"
            f"patch={json.dumps(verdicts[n].raw_patch, sort_keys=True)}\n"
            f"tether={json.dumps(_comparable(after_ours[n]), sort_keys=True)}\n"
            f"kubectl={json.dumps(_comparable(after_theirs[n]), sort_keys=True)}"
        )
    assert not wrong_in_sync, f"tether said in sync but kubectl apply changed: {wrong_in_sync[:5]}"


def _drop_finalizers(kubectl: Kubectl, *namespaces: str) -> None:
    for ns in namespaces:
        items = kubectl.json("get", "deployments", "-n", ns)["items"]
        for obj in items:
            if obj["metadata"].get("finalizers"):
                kubectl.run(
                    "patch",
                    "deployment",
                    obj["metadata"]["name"],
                    "-n",
                    ns,
                    "--type",
                    "merge",
                    "-p",
                    '{"metadata":{"finalizers":null}}',
                    check=False,
                )
