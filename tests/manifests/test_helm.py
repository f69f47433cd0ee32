"""Helm charts rendered by the real helm binary: value files, local dependencies, offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tether.manifests import (
    HelmOptions,
    LocalTree,
    ManifestPathEscapeError,
    RenderOptions,
    RenderToolError,
    SourceNotFoundError,
    render,
)

CHART = """\
apiVersion: v2
name: web
version: 0.1.0
dependencies:
  - name: redis
    version: 0.1.0
    repository: file://charts/redis
"""

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-{{ .Values.name }}
  namespace: {{ .Release.Namespace }}
data:
  replicas: {{ .Values.replicas | quote }}
  color: {{ .Values.color | quote }}
  enabled: {{ .Values.enabled | quote }}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    files = {
        "charts/web/Chart.yaml": CHART,
        "charts/web/values.yaml": "name: web\nreplicas: 1\ncolor: blue\nenabled: off\n",
        "charts/web/templates/cm.yaml": TEMPLATE,
        "charts/web/crds/crd.yaml": (
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
            "metadata:\n  name: widgets.example.com\n"
        ),
        "charts/web/charts/redis/Chart.yaml": "apiVersion: v2\nname: redis\nversion: 0.1.0\n",
        "charts/web/charts/redis/templates/svc.yaml": (
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-redis\n"
        ),
        "charts/web/prod.yaml": "replicas: 3\n",
        "envs/shared.yaml": "color: green\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def helm_render(root: Path, **helm: object) -> list[dict[str, object]]:
    options = RenderOptions(helm=HelmOptions(**helm))  # type: ignore[arg-type]
    result = render(LocalTree(root), "charts/web", options, app_name="shop", cache_key=None)
    assert result.renderer == "helm"
    return list(result.objects)


def by_kind(objects: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(o["kind"]): o for o in objects}


def test_value_files_inline_values_set_and_local_dependency(helm: str, repo: Path) -> None:
    objects = by_kind(
        helm_render(
            repo,
            value_files=("prod.yaml", "../../envs/shared.yaml"),
            values="name: api\n",
            set=(("enabled", "true"),),
            namespace="team-a",
        )
    )
    cm = objects["ConfigMap"]
    assert cm["metadata"] == {"name": "shop-api", "namespace": "team-a"}
    assert cm["data"] == {"replicas": "3", "color": "green", "enabled": "true"}
    assert objects["Service"]["metadata"] == {"name": "shop-redis"}
    assert "CustomResourceDefinition" in objects


def test_release_name_and_skip_crds(helm: str, repo: Path) -> None:
    objects = by_kind(helm_render(repo, release_name="rel", skip_crds=True))
    assert objects["ConfigMap"]["metadata"]["name"] == "rel-web"  # type: ignore[index]
    assert "CustomResourceDefinition" not in objects


def test_sources_point_at_templates(helm: str, repo: Path) -> None:
    result = render(LocalTree(repo), "charts/web", app_name="shop", cache_key=None)
    files = {o["kind"]: s.file for o, s in zip(result.objects, result.sources, strict=True)}
    assert files["ConfigMap"] == "charts/web: web/templates/cm.yaml"
    assert files["Service"] == "charts/web: web/charts/redis/templates/svc.yaml"


@pytest.mark.parametrize("name", ["../../../outside.yaml", "/etc/passwd"])
def test_value_files_outside_the_repository_are_refused(helm: str, repo: Path, name: str) -> None:
    (repo.parent / "outside.yaml").write_text("color: red\n")
    with pytest.raises(ManifestPathEscapeError):
        helm_render(repo, value_files=(name,))


def test_a_value_file_symlinked_outside_is_refused(helm: str, repo: Path) -> None:
    (repo.parent / "outside.yaml").write_text("color: red\n")
    os.symlink(repo.parent / "outside.yaml", repo / "charts" / "web" / "evil.yaml")
    with pytest.raises(ManifestPathEscapeError):
        helm_render(repo, value_files=("evil.yaml",))


def test_missing_and_remote_value_files(helm: str, repo: Path) -> None:
    with pytest.raises(SourceNotFoundError, match=r"charts/web/nope\.yaml: value file not found"):
        helm_render(repo, value_files=("nope.yaml",))
    with pytest.raises(SourceNotFoundError, match="URLs are not fetched"):
        helm_render(repo, value_files=("https://example.com/v.yaml",))


def test_a_remote_dependency_that_is_not_vendored_fails_before_helm(helm: str, repo: Path) -> None:
    chart = repo / "charts" / "web" / "Chart.yaml"
    chart.write_text(
        CHART + "  - name: pg\n    version: 1.0.0\n    repository: https://charts.example.com\n"
    )
    with pytest.raises(SourceNotFoundError) as info:
        helm_render(repo)
    assert str(info.value).startswith(
        "charts/web/Chart.yaml: dependency 'pg' comes from https://charts.example.com"
    )


def test_a_vendored_tgz_dependency_counts(helm: str, repo: Path, tmp_path: Path) -> None:
    import subprocess

    subprocess.run(
        [helm, "package", str(repo / "charts" / "web" / "charts" / "redis"), "-d", str(tmp_path)],
        check=True, capture_output=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HELM_CACHE_HOME": str(tmp_path / "c"),
             "HELM_CONFIG_HOME": str(tmp_path / "cf"), "HELM_DATA_HOME": str(tmp_path / "d")},
    )  # fmt: skip
    vendored = repo / "charts" / "web" / "charts"
    (tmp_path / "redis-0.1.0.tgz").rename(vendored / "redis-0.1.0.tgz")
    for path in sorted((vendored / "redis").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (vendored / "redis").rmdir()
    assert "Service" in by_kind(helm_render(repo))


def test_template_errors_carry_helms_message_and_the_path(helm: str, repo: Path) -> None:
    (repo / "charts" / "web" / "templates" / "bad.yaml").write_text(
        "{{ .Values.missing.deeper }}\n"
    )
    with pytest.raises(RenderToolError) as info:
        helm_render(repo)
    message = str(info.value)
    assert message.startswith("charts/web: helm failed (exit 1): ")
    assert "bad.yaml" in message and "nil pointer" in message
    assert "/tmp" not in message and "tether-helm-" not in message


def test_rendered_output_that_is_not_an_object_is_an_error(helm: str, repo: Path) -> None:
    (repo / "charts" / "web" / "templates" / "bad.yaml").write_text(
        "kind: ConfigMap\nmetadata: {name: x}\n"
    )
    with pytest.raises(
        Exception,
        match=r"charts/web: web/templates/bad.yaml\[doc \d+\]: ConfigMap/x: apiVersion is missing",
    ):
        helm_render(repo)


def test_the_repository_is_not_modified(helm: str, repo: Path) -> None:
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    helm_render(repo, value_files=("prod.yaml",))
    after = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    assert before == after
