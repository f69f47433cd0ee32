"""The Helm release name follows one rule in render, diff and sync."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tether.cli import main


def test_helm_release_defaults_to_the_app_name_in_render(tmp_path: Path, helm: str) -> None:
    """One rule, as in Argo CD: --release-name, else the app name (render: the folder's)."""
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: chart\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
    )
    runner = CliRunner()
    named = runner.invoke(main, ["render", str(tmp_path), "--path", "chart", "--app", "web"])
    assert named.exit_code == 0, named.stderr
    assert "name: web-cm" in named.stdout
    default = runner.invoke(main, ["render", str(tmp_path), "--path", "chart"])
    assert default.exit_code == 0, default.stderr
    assert "name: chart-cm" in default.stdout
    release = runner.invoke(
        main, ["render", str(tmp_path), "--path", "chart", "--app", "web", "--release-name", "r"]
    )
    assert "name: r-cm" in release.stdout
