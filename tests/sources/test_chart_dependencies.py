"""Chart dependencies through declared Repositories, against the real Helm repository and
registry: fetched, verified and laid under charts/ when a Repository declares their URL;
refused, naming the dependency and the Repository to declare, otherwise."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from source_servers import (
    HelmRepoServer,
    RegistryServer,
    helm_push,
    helm_registry_login,
    package_chart,
    publish,
    write_chart,
)

from tether.manifests import LocalTree, RenderOptions, render
from tether.manifests.errors import SourceNotFoundError
from tether.sources import Access, RepoType, SourceFetcher
from tether.sources.dependencies import DeclaredRepository, OverlayTree, vendor_dependencies

_count = itertools.count()


def parent_chart(root: Path, repository: str, version: str = "^1.0.0", name: str = "demo") -> Path:
    chart = root / f"parent{next(_count)}"
    (chart / "templates").mkdir(parents=True)
    meta = {
        "apiVersion": "v2",
        "name": "parent",
        "version": "0.1.0",
        "dependencies": [{"name": name, "version": version, "repository": repository}],
    }
    (chart / "Chart.yaml").write_text(json.dumps(meta))
    (chart / "templates" / "own.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: parent-own\n"
    )
    return chart


def rendered_names(tree: object, path: str) -> list[str]:
    result = render(tree, path, RenderOptions(), app_name="rel", cache_key=None)  # type: ignore[arg-type]
    return sorted(o["metadata"]["name"] for o in result.objects)


def test_a_dependency_from_a_declared_helm_repository_is_vendored(
    helm_repo: HelmRepoServer, tmp_path: Path, fetcher: SourceFetcher, good_access: Access
) -> None:
    chart = parent_chart(tmp_path, helm_repo.url + "/")  # a trailing slash still matches
    tree = LocalTree(chart.parent)
    declared = [DeclaredRepository("charts", RepoType.HELM, helm_repo.url, good_access)]
    full = vendor_dependencies(fetcher, tree, chart.name, declared)
    assert isinstance(full, OverlayTree)
    assert list(full.files) == [f"{chart.name}/charts/demo-1.1.0.tgz"]
    assert rendered_names(full, chart.name) == ["parent-own", "rel-demo"]
    assert not (chart / "charts").exists()  # the repository's files are never written


def test_a_dependency_no_repository_declares_is_refused_naming_what_to_declare(
    helm_repo: HelmRepoServer, tmp_path: Path, fetcher: SourceFetcher, good_access: Access
) -> None:
    chart = parent_chart(tmp_path, helm_repo.url)
    other = [DeclaredRepository("other", RepoType.HELM, "https://127.0.0.1:1/else", good_access)]
    tree = vendor_dependencies(fetcher, LocalTree(chart.parent), chart.name, other)
    helm_repo.traffic.reset()
    with pytest.raises(SourceNotFoundError) as caught:
        rendered_names(tree, chart.name)
    text = str(caught.value)
    assert "dependency 'demo'" in text
    assert f"declare a Repository with type: helm and url: {helm_repo.url}" in text
    assert sum(helm_repo.traffic.requests.values()) == 0  # nothing was fetched for it


def test_a_dependency_from_a_declared_oci_repository_is_vendored(
    registry: RegistryServer, tmp_path: Path, fetcher: SourceFetcher, good_access: Access
) -> None:
    home = tmp_path / "helm"
    helm_registry_login(registry, home)
    tgz = package_chart(write_chart(home, "ocidep", "2.3.0"), home / "pkg", home)
    helm_push(registry, tgz, "deps", home)
    chart = parent_chart(tmp_path, f"{registry.url}/deps", version="~2.3", name="ocidep")
    declared = [DeclaredRepository("deps", RepoType.OCI, f"{registry.url}/deps", good_access)]
    full = vendor_dependencies(fetcher, LocalTree(chart.parent), chart.name, declared)
    assert rendered_names(full, chart.name) == ["parent-own", "rel-ocidep"]


def test_a_dependency_range_moves_and_changes_the_render_identity(
    helm_repo: HelmRepoServer,
    tmp_path: Path,
    fetcher: SourceFetcher,
    good_access: Access,
    helm_home: Path,
) -> None:
    chart = parent_chart(tmp_path, helm_repo.url)
    declared = [DeclaredRepository("charts", RepoType.HELM, helm_repo.url, good_access)]
    before = vendor_dependencies(fetcher, LocalTree(chart.parent), chart.name, declared)
    publish(helm_repo.root, "demo", "1.2.0", helm_home)
    after = vendor_dependencies(fetcher, LocalTree(chart.parent), chart.name, declared)
    assert isinstance(before, OverlayTree) and isinstance(after, OverlayTree)
    assert list(after.files) == [f"{chart.name}/charts/demo-1.2.0.tgz"]
    assert before.pin != after.pin
