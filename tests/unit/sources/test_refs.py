"""Multi-source renders: ``$ref`` value files read from another source's tree, and the
objects of every source concatenated (``tether.sources.refs``, ``render_sources_blocking``).

Real helm and real folders on disk; only the trees' origin (Git or an archive) is left out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.appspec import AppSpec, SourceSpec
from tether.controller.rendering import SourceTree, render_sources_blocking
from tether.manifests import LocalTree, ManifestError
from tether.manifests.errors import (
    DuplicateObjectError,
    ManifestPathEscapeError,
    SourceNotFoundError,
)
from tether.manifests.options import HelmOptions, RenderOptions
from tether.sources.refs import split_ref, with_ref_files

CHART = {
    "chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\n",
    "chart/values.yaml": "greeting: default\n",
    "chart/templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    ),
}
CONFIG = {
    "web/values.yaml": "greeting: from-git\n",
    "extra/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n",
}


def tree_of(root: Path, files: dict[str, str]) -> LocalTree:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return LocalTree(root)


@pytest.fixture
def trees(tmp_path: Path) -> tuple[LocalTree, LocalTree]:
    return tree_of(tmp_path / "charts", CHART), tree_of(tmp_path / "config", CONFIG)


def chart_source(*value_files: str) -> SourceSpec:
    return SourceSpec(
        repository="charts",
        path="chart",
        render=RenderOptions(helm=HelmOptions(value_files=value_files)),
    )


def render_parts(parts: list[SourceTree]) -> dict[str, dict[str, object]]:
    app = AppSpec(name="web", sources=tuple(p.source for p in parts))
    rendered = render_sources_blocking(parts, app)
    return {str(o["metadata"]["name"]): o for o in rendered.objects}  # type: ignore[index]


def test_a_ref_value_file_is_read_from_the_ref_source(trees: tuple[LocalTree, LocalTree]) -> None:
    charts, config = trees
    values = SourceSpec(repository="config", ref="values")
    objects = render_parts(
        [
            SourceTree(chart_source("$values/web/values.yaml"), charts, "chart", "c1"),
            SourceTree(values, config, "", "g1"),
        ]
    )
    assert list(objects) == ["web"]  # the ref-only source renders nothing
    assert objects["web"]["data"] == {"greeting": "from-git"}


def test_a_ref_source_with_a_path_renders_too(trees: tuple[LocalTree, LocalTree]) -> None:
    charts, config = trees
    values = SourceSpec(repository="config", ref="values", path="extra")
    objects = render_parts(
        [
            SourceTree(chart_source("$values/web/values.yaml"), charts, "chart", "c1"),
            SourceTree(values, config, "extra", "g1"),
        ]
    )
    assert sorted(objects) == ["extra", "web"]


def test_a_changed_ref_file_renders_anew(tmp_path: Path) -> None:
    charts = tree_of(tmp_path / "charts", CHART)
    config = tree_of(tmp_path / "config", CONFIG)
    parts = [
        SourceTree(chart_source("$values/web/values.yaml"), charts, "chart", "c1"),
        SourceTree(SourceSpec(repository="config", ref="values"), config, "", "g1"),
    ]
    assert render_parts(parts)["web"]["data"] == {"greeting": "from-git"}
    (tmp_path / "config/web/values.yaml").write_text("greeting: changed\n")
    parts[1] = SourceTree(parts[1].source, config, "", "g2")
    assert render_parts(parts)["web"]["data"] == {"greeting": "changed"}


def test_duplicates_across_sources_name_both_places(trees: tuple[LocalTree, LocalTree]) -> None:
    _, config = trees
    one = SourceSpec(repository="config", path="extra")
    parts = [SourceTree(one, config, "extra", "g1"), SourceTree(one, config, "extra", "g1")]
    app = AppSpec(name="web", sources=(one, one))
    with pytest.raises(DuplicateObjectError) as info:
        render_sources_blocking(parts, app)
    assert "sources[0]:extra/cm.yaml[doc 0] and sources[1]:extra/cm.yaml[doc 0]" in str(info.value)


@pytest.mark.parametrize(
    ("value_file", "error", "text"),
    [
        ("$values/../../etc/passwd", ManifestPathEscapeError, "leaves its ref's repository"),
        ("$values/missing.yaml", SourceNotFoundError, "not found in source 'values'"),
        ("$other/web/values.yaml", SourceNotFoundError, "no source has ref 'other'"),
    ],
)
def test_bad_ref_value_files_are_refused_naming_them(
    trees: tuple[LocalTree, LocalTree], value_file: str, error: type[ManifestError], text: str
) -> None:
    charts, config = trees
    options = RenderOptions(helm=HelmOptions(value_files=(value_file,)))
    with pytest.raises(error) as info:
        with_ref_files(charts, "chart", options, {"values": config})
    assert text in str(info.value) and value_file in str(info.value)


def test_ordinary_value_files_leave_the_tree_alone(trees: tuple[LocalTree, LocalTree]) -> None:
    charts, config = trees
    options = RenderOptions(helm=HelmOptions(value_files=("values.yaml",)))
    assert with_ref_files(charts, "chart", options, {"values": config}) == (charts, options)
    assert split_ref("values.yaml") is None
    assert split_ref("$values/a/b.yaml") == ("values", "a/b.yaml")
