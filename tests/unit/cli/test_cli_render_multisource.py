"""`tether render --source ... --source ...`: several sources rendered as spec.sources is."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tether.cli import main

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\n",
    "values.yaml": "greeting: default\n",
    "templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    ),
}


def folder(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_chart_with_values_from_another_source(tmp_path: Path) -> None:
    chart = folder(tmp_path / "chart", CHART)
    config = folder(tmp_path / "config", {"web/values.yaml": "greeting: from-config\n"})
    code, out, err = run(
        "render",
        "-o",
        "json",
        "--source",
        f"url={chart},values=$cfg/web/values.yaml",
        "--source",
        f"url={config},ref=cfg",
    )
    assert code == 0, err
    items = json.loads(out)["items"]
    assert [(o["metadata"]["name"], o["data"]) for o in items] == [
        ("web", {"greeting": "from-config"})
    ]


def test_source_and_sources_together_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("render", str(tmp_path), "--source", f"url={tmp_path}")
    assert code == 2 and "give SOURCE or one or more --source" in err
    code, _, err = run("render")
    assert code == 2 and "give SOURCE or one or more --source" in err


def test_per_source_flags_beside_source_are_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("render", "--source", f"url={tmp_path}", "--path", "x", "--values", "v")
    assert code == 2 and "--path, --values: with --source, write these inside each" in err


def test_a_bad_spec_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    code, _, err = run("render", "--source", f"url={tmp_path},colour=red")
    assert code == 2 and "'colour=red'" in err


def test_a_value_file_naming_no_ref_is_refused_naming_it(tmp_path: Path) -> None:
    chart = folder(tmp_path / "chart", CHART)
    code, _, err = run("render", "--source", f"url={chart},values=$nope/values.yaml")
    assert code == 1
    assert "$nope/values.yaml" in err and "no source has ref 'nope'" in err
    assert "Traceback" not in err


def test_help_documents_the_source_syntax() -> None:
    for command in ("render", "diff", "sync"):
        code, out, _ = run(command, "--help")
        assert code == 0 and "--source SPEC" in out and "ref=NAME" in out
