"""`tether render` on local folders and files: output formats, round trip, errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tether.cli import main
from tether.manifests import load_documents

MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: tricky}
data:
  a: "yes"
  b: "0644"
  c: "on"
  d: "1.0"
  image: nginx:1.25
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Secret, metadata: {name: s}, stringData: {k: v}}
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_folder_renders_to_a_yaml_stream_kubectl_reads_back_unchanged(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST)
    code, out, _ = run("render", str(tmp_path))
    assert code == 0
    docs = [d.value for d in load_documents(out, file="out.yaml")]
    assert [d["metadata"]["name"] for d in docs] == ["tricky", "s"]
    # strings that YAML 1.1 would turn into booleans or numbers stay strings
    assert docs[0]["data"] == {
        "a": "yes",
        "b": "0644",
        "c": "on",
        "d": "1.0",
        "image": "nginx:1.25",
    }


def test_json_output_is_one_list(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST)
    code, out, _ = run("render", str(tmp_path), "-o", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["kind"] == "List" and doc["apiVersion"] == "v1"
    assert [i["kind"] for i in doc["items"]] == ["ConfigMap", "Secret"]


def test_a_single_file_is_a_source(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST)
    (tmp_path / "other.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    code, out, _ = run("render", str(tmp_path / "m.yaml"), "-o", "json")
    assert code == 0
    assert [i["metadata"]["name"] for i in json.loads(out)["items"]] == ["tricky", "s"]


def test_output_order_is_stable(tmp_path: Path) -> None:
    for i in range(20):
        (tmp_path / f"f{i:02}.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n"
        )
    first = run("render", str(tmp_path))[1]
    assert all(run("render", str(tmp_path))[1] == first for _ in range(3))


def test_bad_yaml_fails_with_one_line_naming_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n")
    code, out, err = run("render", str(tmp_path))
    assert code != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "bad.yaml" in lines[0] and "line 4" in lines[0] and "tab" in lines[0]


def test_missing_name_names_the_document(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    code, _, err = run("render", str(tmp_path))
    assert code != 0
    assert "m.yaml[doc 1]" in err  # 0-based; the empty doc 0 still counts and "name" in err


def test_path_escape_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST)
    code, _, err = run("render", str(tmp_path), "--path", "../..")
    assert code != 0
    assert ".." in err


def test_unknown_source_is_one_clear_line(tmp_path: Path) -> None:
    code, _, err = run("render", str(tmp_path / "missing"))
    assert code != 0
    assert err.strip().endswith("no such folder or file, and not a Git URL")


JSONNET_APP = """\
local k = import 'k.libsonnet';
function(name, replicas=1) [
  k.cm(name, { replicas: std.toString(replicas), env: std.extVar('env') }),
  k.cm(name + '-' + std.extVar('suffix'), {}),
]
"""
JSONNET_LIB = (
    "{ cm(n, d):: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n }, data: d } }"
)


def test_jsonnet_folder_with_flags(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.jsonnet").write_text(JSONNET_APP)
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "k.libsonnet").write_text(JSONNET_LIB)
    code, out, err = run(
        "render", str(tmp_path), "--path", "app", "-o", "json",
        "--jsonnet-tla", "name=web", "--jsonnet-tla-code", "replicas=2 + 1",
        "--jsonnet-ext-var", "env=prod", "--jsonnet-ext-code", "suffix='x' + 'y'",
        "--jsonnet-lib", "vendor",
    )  # fmt: skip
    assert code == 0, err
    items = json.loads(out)["items"]
    assert [i["metadata"]["name"] for i in items] == ["web", "web-xy"]
    assert items[0]["data"] == {"replicas": "3", "env": "prod"}


def test_jsonnet_errors_are_one_line_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "main.jsonnet").write_text("{\n  a: std.extVar('missing'),\n}\n")
    code, out, err = run("render", str(tmp_path))
    assert code == 1 and out == ""
    assert err.strip() == "error: main.jsonnet:2:6: undefined external variable: missing"


def test_jsonnet_flag_without_a_name_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("render", str(tmp_path), "--jsonnet-tla", "replicas")
    assert code == 2
    assert "--jsonnet-tla 'replicas': expected NAME=VALUE" in err
