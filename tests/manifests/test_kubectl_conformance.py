"""Conformance table: our YAML reading against what the real kubectl does.

Each case is written to a file, read by ``kubectl label --local -o json``
(which parses like ``kubectl apply`` without a server) and by our loader; the
``spec`` both produce must match, or both must reject the file. The one
deliberate difference, duplicate keys, is asserted separately.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tether.manifests import DuplicateKeyError, LocalTree, ManifestError, render

HEADER = "apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: probe\n"

CASES = {
    "yaml11-booleans": "spec:\n  a: yes\n  b: no\n  c: on\n  d: off\n  e: y\n  f: n\n  g: Y\n  h: True\n  i: NO\n  j: yEs\n",
    "nulls": "spec:\n  a: ~\n  b: null\n  c:\n  d: Null\n  e: NULL\n  f: nULL\n",
    "octal-hex-binary": "spec:\n  a: 0644\n  b: 0o644\n  c: 0x1F\n  d: -0x1F\n  e: 0b101\n  f: +0644\n  g: 007\n  h: 08\n  i: 09.5\n",
    "underscores": "spec:\n  a: 1_000\n  b: 1__0\n  c: _1\n  d: 1_\n  e: 0x_1F\n  f: .5_0\n  g: 1_000.5\n",
    "floats": "spec:\n  a: 1e3\n  b: 1.0e3\n  c: 3.0\n  d: 1.5\n  e: .5\n  f: 1.\n  g: -1_0.5\n  h: 1e400\n  i: 1e-400\n  j: 6.8523015e+5\n  k: 1e21\n  l: 1e-7\n",
    "big-integers": "spec:\n  a: 9223372036854775807\n  b: 9223372036854775808\n  c: -9223372036854775809\n  d: 18446744073709551616\n  e: 12345678901234567890\n",
    "sexagesimal-and-timestamps": "spec:\n  a: 1:30\n  b: 190:20:30.15\n  c: 2024-01-01\n  d: 2001-12-14t21:59:43.10-05:00\n  e: 2001-12-14 21:59:43.10 -5\n",
    "quoted-and-block": "spec:\n  a: '0644'\n  b: \"yes\"\n  c: |\n    on\n  d: >\n    folded\n    text\n",
    "explicit-tags": 'spec:\n  a: !!str 0644\n  b: !!int "0644"\n  c: !foo bar\n  d: !!float 3\n  e: !!binary aGVsbG8=\n  f: ! 5\n  g: !!bool "yes"\n',
    "anchors-and-merge": "x: &x {p: 1, q: 2}\nspec:\n  a: *x\n  b:\n    <<: *x\n    q: 3\n  c:\n    q: 9\n    <<: *x\n  d:\n    <<: [{p: 1}, {p: 2, r: 3}]\n  e:\n    '<<': 1\n",
    "keys": "spec:\n  1: a\n  true: b\n  1.5: c\n  0644: d\n  1e3: f\n  3.0: g\n  123456789.123: h\n  2024-01-01: i\n  .inf: j\n  n: k\n  1e-7: l\n  -.inf: m\n  1e21: o\n",
    "keys-on-and-y": "spec:\n  a:\n    on: e\n  b:\n    y: k\n  c:\n    No: x\n",
    "set-and-omap": "spec:\n  a: !!set {x, y}\n  b: !!omap [x: 1, y: 2]\n",
    "strings": "spec:\n  a: \"esc\\tape\\u00e9\"\n  b: 'it''s'\n  c: x\ty\n  e: .\n  f: 0x\n",
    "crlf": "spec:\r\n  a: yes\r\n  b: |\r\n    l1\r\n    l2\r\n",
    "bom": "\ufeffspec:\n  a: 1\n",
    "colon-in-flow-scalars": "spec:\n  a: {image: nginx:1.25, b: x}\n  c: [nginx:1.25, {k: a:b}, 'q:r']\n",
}

ERRORS = {
    "tab-indentation": "spec:\n\ta: 1\n",
    "recursive-anchor": "spec:\n  a: &a [1, *a]\n",
    "unknown-anchor": "spec:\n  a: *nope\n",
    "bad-merge": "spec:\n  <<: [1]\n",
    "bad-int-tag": "spec:\n  a: !!int abc\n",
    "infinity": "spec:\n  a: .inf\n",
    "nan": "spec:\n  a: .nan\n",
    "null-key": "spec:\n  ~: 1\n",
    "list-key": "spec:\n  ? [1]\n  : 2\n",
    "uint64-key": "spec:\n  12345678901234567890: c\n",
    "unclosed-flow": "spec:\n  a: [1\n",
    "dash-value": "spec:\n  a: -\n",
}


def kubectl_read(kubectl: str, file: Path) -> dict[str, Any] | None:
    """kubectl's JSON for the file, or None when kubectl rejects it."""
    done = subprocess.run(
        [kubectl, "label", "--local", "-f", str(file), "tether=probe", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(file.parent)},
    )
    if done.returncode != 0:
        return None
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def ours(root: Path, loader: str) -> dict[str, Any]:
    result = render(LocalTree(root), "", app_name="t", cache_key=None, loader=loader)  # type: ignore[arg-type]
    [obj] = result.objects
    return obj


def same(left: Any, right: Any) -> bool:
    """Equal as JSON values; numbers compare as float64 when either side is a float."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        if isinstance(left, float) or isinstance(right, float):
            return math.isclose(float(left), float(right), rel_tol=1e-15)
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and left == right


def write_case(tmp_path: Path, body: str) -> Path:
    file = tmp_path / "case.yaml"
    text = (
        body.replace("spec:", HEADER + "spec:", 1)
        if not body.startswith("\ufeff")
        else ("\ufeff" + HEADER + body[1:])
    )
    if "\r\n" in body:
        text = HEADER.replace("\n", "\r\n") + body
    file.write_bytes(text.encode())
    return file


@pytest.mark.parametrize("loader", ["auto", "pure"])  # auto: C, pure on its gaps
@pytest.mark.parametrize("case", sorted(CASES))
def test_we_read_what_kubectl_reads(kubectl: str, tmp_path: Path, case: str, loader: str) -> None:
    if loader == "pure" and case == "strings":
        pytest.xfail("ruamel's pure scanner rejects a tab inside a plain scalar (documented gap)")
    file = write_case(tmp_path, CASES[case])
    theirs = kubectl_read(kubectl, file)
    assert theirs is not None, f"kubectl rejected case {case}"
    mine = ours(tmp_path, loader)
    assert same(mine["spec"], theirs["spec"]), (mine["spec"], theirs["spec"])


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_we_reject_what_kubectl_rejects(kubectl: str, tmp_path: Path, case: str) -> None:
    file = write_case(tmp_path, ERRORS[case])
    assert kubectl_read(kubectl, file) is None, f"kubectl accepted case {case}"
    with pytest.raises(ManifestError) as info:
        ours(tmp_path, "c")
    assert str(info.value).startswith("case.yaml[doc 0]: ")


def test_duplicate_keys_deliberately_differ(kubectl: str, tmp_path: Path) -> None:
    file = write_case(tmp_path, "spec:\n  a: 1\n  a: 2\n")
    theirs = kubectl_read(kubectl, file)
    assert theirs is not None and theirs["spec"] == {"a": 2}  # kubectl keeps the last silently
    with pytest.raises(DuplicateKeyError, match="line 7: duplicate key 'a'"):
        ours(tmp_path, "c")


def test_multi_document_with_empty_documents(kubectl: str, tmp_path: Path) -> None:
    docs = (
        "---\n---\n"
        + HEADER.replace("probe", "one")
        + "---\n# c\n---\n"
        + HEADER.replace("probe", "two")
    )
    (tmp_path / "m.yaml").write_text(docs)
    done = subprocess.run(
        [kubectl, "label", "--local", "-f", str(tmp_path / "m.yaml"), "x=y", "-o", "name"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    theirs = [line.rsplit("/", 1)[-1] for line in done.stdout.split()]
    result = render(LocalTree(tmp_path), "", app_name="t", cache_key=None)
    assert [o["metadata"]["name"] for o in result.objects] == theirs == ["one", "two"]
