"""The same object declared twice is a render error naming both places, for every renderer.

Render keys objects as written (group, kind, namespace or "", name); ``generateName``
hooks have no name yet and are never duplicates. The engine repeats the check after
namespace defaulting with the same function (``ensure_unique``), tested here on keys.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.identity import BUILTIN_SCOPE, ResourceKey, as_written, resource_key
from tether.manifests import (
    DirectoryOptions,
    DuplicateObjectError,
    LocalTree,
    ManifestError,
    RenderOptions,
    render,
)
from tether.manifests.objects import ensure_unique
from tether.plan import DuplicateObjectError as PlanDuplicate

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{ns}"


def cm(name: str, namespace: str = "") -> str:
    return CM.format(name=name, ns=f"  namespace: {namespace}\n" if namespace else "")


def tree_with(tmp_path: Path, files: dict[str, str]) -> LocalTree:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return LocalTree(tmp_path)


def render_dir(tree: LocalTree, path: str = "", recurse: bool = True) -> object:
    options = RenderOptions(directory=DirectoryOptions(recurse=recurse))
    return render(tree, path, options, app_name="t", cache_key=None)


def test_two_files_declaring_one_object_name_both_places(tmp_path: Path) -> None:
    tree = tree_with(
        tmp_path,
        {"a.yaml": cm("other") + "---\n" + cm("same", "dup"), "b/c.yaml": cm("same", "dup")},
    )
    with pytest.raises(DuplicateObjectError) as info:
        render_dir(tree)
    assert str(info.value) == (
        "ConfigMap dup/same is declared twice: a.yaml[doc 1] and b/c.yaml[doc 0]"
    )
    assert isinstance(info.value, ManifestError)
    assert (info.value.first, info.value.second) == ("a.yaml[doc 1]", "b/c.yaml[doc 0]")


def test_the_same_document_twice_in_one_file(tmp_path: Path) -> None:
    tree = tree_with(tmp_path, {"a.yaml": cm("x") + "---\n" + cm("x")})
    with pytest.raises(DuplicateObjectError, match=r"ConfigMap x is declared twice: a.yaml\[doc 0\] and a.yaml\[doc 1\]"):  # fmt: skip
        render_dir(tree)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (cm("x"), cm("z")),  # other name
        (cm("x", "a"), cm("x", "b")),  # other namespace
        (cm("x"), cm("x").replace("ConfigMap", "Secret")),  # other kind
        (
            "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: x}\n",
            "apiVersion: other.com/v1\nkind: Thing\nmetadata: {name: x}\n",
        ),  # other group
        (
            "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: hook-}\n",
            "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: hook-}\n",
        ),  # generateName hooks get their names later
    ],
)
def test_different_objects_are_not_duplicates(tmp_path: Path, first: str, second: str) -> None:
    tree = tree_with(tmp_path, {"a.yaml": first, "b.yaml": second})
    assert len(render_dir(tree).manifests) == 2  # type: ignore[attr-defined]


def test_versions_of_one_group_are_the_same_object(tmp_path: Path) -> None:
    tree = tree_with(
        tmp_path,
        {
            "a.yaml": "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: x}\n",
            "b.yaml": "apiVersion: example.com/v2\nkind: Thing\nmetadata: {name: x}\n",
        },
    )
    with pytest.raises(DuplicateObjectError, match="Thing x"):
        render_dir(tree)


def test_recurse_over_a_kustomize_base_and_its_overlays_is_a_duplicate(tmp_path: Path) -> None:
    deployment = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {n}\n"
    )
    tree = tree_with(
        tmp_path,
        {
            "base/kustomization.yaml": "resources: [deployment.yaml]\n",
            "base/deployment.yaml": deployment.format(n=1),
            "overlays/prod/kustomization.yaml": "resources: [../../base]\npatches: [{path: replicas.yaml}]\n",
            "overlays/prod/replicas.yaml": deployment.format(n=3),
        },
    )
    with pytest.raises(DuplicateObjectError) as info:
        render_dir(tree)
    assert "base/deployment.yaml[doc 0]" in str(info.value)
    assert "overlays/prod/replicas.yaml[doc 0]" in str(info.value)
    # Without recursion the folder holds nothing, and one overlay alone is fine.
    assert render_dir(tree, recurse=False).manifests == ()  # type: ignore[attr-defined]


def test_list_items_are_named_by_their_index(tmp_path: Path) -> None:
    items = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}\n"
    tree = tree_with(tmp_path, {"list.yaml": items})
    with pytest.raises(DuplicateObjectError, match=r"list.yaml\[doc 0\].items\[0\] and list.yaml\[doc 0\].items\[1\]"):  # fmt: skip
        render_dir(tree)


def test_after_namespace_defaulting_the_engine_check_catches_mixed_forms() -> None:
    """One copy names the destination namespace, the other leaves it to defaulting."""
    objects = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "prod"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
    ]
    keyed = [(resource_key(o, BUILTIN_SCOPE, "prod"), as_written(o)) for o in objects]
    with pytest.raises(DuplicateObjectError) as info:
        ensure_unique(keyed, lambda key: key.label)
    assert str(info.value) == (
        "ConfigMap prod/c is declared twice: ConfigMap prod/c and ConfigMap c (no namespace)"
    )
    # A cluster-scoped kind has no namespace to default: one key each.
    ensure_unique([(ResourceKey("", "Namespace", "", "a"), "a"), (ResourceKey("", "Namespace", "", "b"), "b")], str)  # fmt: skip


def test_the_planner_raises_the_same_type() -> None:
    assert PlanDuplicate is DuplicateObjectError
