"""Differential test: tether's patch engines against kubectl's Go code on the same input.

For hundreds of generated (original, modified, current) Deployment triples, the
strategic three-way patch, its application, the JSON merge three-way patch and its
application must equal what k8s.io/apimachinery computes (the code ``kubectl apply``
and the API server run).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import oracle
import pytest
import triples

from tether.diff import (
    PatchError,
    apply_merge_patch,
    apply_strategic_patch,
    default_patch_meta,
    three_way_json_merge_patch,
    three_way_strategic_patch,
)

COUNT = 400


@pytest.fixture(scope="module")
def oracle_binary() -> Path:
    return oracle.build()


def _cases() -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    rng = random.Random(20240607)
    return [triples.triple(rng) for _ in range(COUNT)]


def _request(spec: Path, o: Any, m: Any, c: Any, *, as_json: bool) -> dict[str, Any]:
    return {
        "spec": str(spec / "apis__apps__v1_openapi.json"),
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
        "original": o,
        "modified": m,
        "current": c,
        "json": as_json,
    }


def _ours_strategic(o: Any, m: Any, c: Any) -> dict[str, Any]:
    root = default_patch_meta().root("apps", "v1", "Deployment")
    assert root is not None
    try:
        patch = three_way_strategic_patch(o, m, c, root)
        return {"patch": patch, "applied": apply_strategic_patch(c, patch, root)}
    except PatchError as exc:
        return {"error": str(exc)}


def _ours_json(o: Any, m: Any, c: Any) -> dict[str, Any]:
    try:
        patch = three_way_json_merge_patch(o, m, c)
        return {"patch": patch, "applied": apply_merge_patch(c, patch)}
    except PatchError as exc:
        return {"error": str(exc)}


def _compare(cases: list[Any], theirs: list[dict[str, Any]], ours: list[dict[str, Any]]) -> None:
    assert len(theirs) == len(cases)
    mismatches = []
    for i, (case, t, o) in enumerate(zip(cases, theirs, ours, strict=True)):
        if ("error" in t) != ("error" in o) or (
            "error" not in t and (t["patch"] != o["patch"] or t["applied"] != o["applied"])
        ):
            mismatches.append((i, case, t, o))
    if mismatches:
        i, case, t, o = mismatches[0]
        pytest.fail(
            f"{len(mismatches)}/{len(cases)} vectors differ from kubectl; first #{i}:\n"
            f"triple={json.dumps(case)}\nkubectl={json.dumps(t, sort_keys=True)}\n"
            f"tether={json.dumps(o, sort_keys=True)}"
        )


def test_strategic_three_way_matches_kubectl(oracle_binary: Path) -> None:
    cases = _cases()
    spec = oracle.spec_dir()
    theirs = oracle.run(oracle_binary, [_request(spec, *c, as_json=False) for c in cases])
    _compare(cases, theirs, [_ours_strategic(*c) for c in cases])
    non_empty = sum(1 for t in theirs if t.get("patch"))
    assert non_empty > COUNT // 2  # the generator really produces changes


def test_json_merge_three_way_matches_kubectl(oracle_binary: Path) -> None:
    cases = _cases()
    spec = oracle.spec_dir()
    theirs = oracle.run(oracle_binary, [_request(spec, *c, as_json=True) for c in cases])
    _compare(cases, theirs, [_ours_json(*c) for c in cases])
