"""render(): detection, the LRU cache, options hashing and Application source mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.manifests import (
    DirectoryOptions,
    HelmOptions,
    LocalTree,
    RenderCache,
    RenderOptions,
    detect_renderer,
    render,
)
from tether.manifests.options import options_hash
from tether.manifests.render import normalize_path

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def tree_with(tmp_path: Path, files: dict[str, str]) -> LocalTree:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return LocalTree(tmp_path)


def test_detection(tmp_path: Path) -> None:
    tree = tree_with(
        tmp_path,
        {
            "k1/kustomization.yaml": "",
            "k2/kustomization.yml": "",
            "k3/Kustomization": "",
            "h/Chart.yaml": "",
            "both/Chart.yaml": "",
            "both/kustomization.yaml": "",
            "d/a.yaml": "",
        },
    )
    found = {p: detect_renderer(tree, p) for p in ("k1", "k2", "k3", "h", "both", "d")}
    assert found == {
        "k1": "kustomize", "k2": "kustomize", "k3": "kustomize",
        "h": "helm", "both": "kustomize", "d": "directory",
    }  # fmt: skip


def test_cache_hits_by_commit_path_and_options(tmp_path: Path) -> None:
    tree = tree_with(tmp_path, {"a/x.yaml": CM.format(name="one")})
    cache: RenderCache[object] = RenderCache(max_entries=2)
    first = render(tree, "a", app_name="app", cache_key="c1", cache=cache)  # type: ignore[arg-type]
    (tmp_path / "a" / "x.yaml").write_text(CM.format(name="two"))
    again = render(tree, "./a/", app_name="app", cache_key="c1", cache=cache)  # type: ignore[arg-type]
    assert again is first
    new_commit = render(tree, "a", app_name="app", cache_key="c2", cache=cache)  # type: ignore[arg-type]
    assert new_commit.objects[0]["metadata"]["name"] == "two"
    other = RenderOptions(directory=DirectoryOptions(recurse=True))
    with_options = render(tree, "a", other, app_name="app", cache_key="c1", cache=cache)  # type: ignore[arg-type]
    assert with_options is not first
    assert len(cache) == 2
    evicted = render(tree, "a", app_name="app", cache_key="c1", cache=cache)  # type: ignore[arg-type]
    assert evicted is not first and evicted.objects[0]["metadata"]["name"] == "two"
    assert (cache.hits, cache.misses) == (1, 4)


def test_no_cache_key_means_no_caching(tmp_path: Path) -> None:
    tree = tree_with(tmp_path, {"x.yaml": CM.format(name="one")})
    cache: RenderCache[object] = RenderCache()
    render(tree, "", app_name="app", cache_key=None, cache=cache)  # type: ignore[arg-type]
    assert len(cache) == 0


def test_cache_bound_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RenderCache(max_entries=0)


def test_options_hash_is_stable_and_sensitive() -> None:
    base = RenderOptions(helm=HelmOptions(value_files=("a.yaml",)))
    assert options_hash(base, "app") == options_hash(
        RenderOptions(helm=HelmOptions(value_files=("a.yaml",))), "app"
    )
    assert options_hash(base, "app") != options_hash(base, "other")
    assert options_hash(base, "app") != options_hash(RenderOptions(), "app")


@pytest.mark.parametrize(("path", "expected"), [("", ""), (".", ""), ("./a//b/", "a/b")])
def test_normalize_path(path: str, expected: str) -> None:
    assert normalize_path(path) == expected
