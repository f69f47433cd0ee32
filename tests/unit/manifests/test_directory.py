"""Directory sources through render(): files, globs, Lists, validation, escapes, limits."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tether.manifests import (
    DirectoryOptions,
    DuplicateKeyError,
    InvalidObjectError,
    Limits,
    LocalTree,
    ManifestPathEscapeError,
    RenderOptions,
    SizeLimitError,
    SourceNotFoundError,
    YAMLSyntaxError,
    render,
)
from tether.tree import PathEscapeError


def cm(name: str, **data: str) -> str:
    body = "".join(f"  {k}: {v}\n" for k, v in data.items()) or "  {}\n"
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n{body}"


def write(root: Path, files: dict[str, str]) -> LocalTree:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return LocalTree(root)


def names(tree: LocalTree, path: str = "", **directory: object) -> list[str]:
    options = RenderOptions(directory=DirectoryOptions(**directory))  # type: ignore[arg-type]
    result = render(tree, path, options, app_name="app", cache_key=None)
    assert result.renderer == "directory"
    return [o["metadata"]["name"] for o in result.objects]


def test_reads_yaml_yml_json_in_path_order(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {
            "b.yml": cm("b"),
            "a.yaml": cm("a1") + "---\n" + cm("a2"),
            "c.json": json.dumps(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
            ),
            "d.txt": cm("ignored"),
            "sub/e.yaml": cm("e"),
        },
    )
    assert names(tree) == ["a1", "a2", "b", "c"]
    assert names(tree, recurse=True) == ["a1", "a2", "b", "c", "e"]


def test_sources_name_file_and_document(tmp_path: Path) -> None:
    tree = write(tmp_path, {"apps/x.yaml": "---\n" + cm("one") + "---\n---\n" + cm("two")})
    result = render(tree, "apps", app_name="app", cache_key=None)
    assert [str(s) for s in result.sources] == ["apps/x.yaml[doc 0]", "apps/x.yaml[doc 2]"]


def test_lists_are_flattened_recursively(tmp_path: Path) -> None:
    nested = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            json.loads(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})),
            {"apiVersion": "v1", "kind": "ConfigMapList", "items": [
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"}}]},
        ],
    }  # fmt: skip
    tree = write(
        tmp_path,
        {"l.json": json.dumps(nested), "e.yaml": "apiVersion: v1\nkind: List\nitems: []\n"},
    )
    result = render(tree, "", app_name="app", cache_key=None)
    assert [o["metadata"]["name"] for o in result.objects] == ["x", "y"]
    assert str(result.sources[1]) == "l.json[doc 0].items[1].items[0]"


def test_an_invalid_list_item_names_its_position(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {
            "l.yaml": "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {}}\n"
        },
    )
    with pytest.raises(InvalidObjectError) as info:
        render(tree, "", app_name="app", cache_key=None)
    assert str(info.value) == (
        "l.yaml[doc 0]: Pod: items[0]: metadata.name is missing (and there is no metadata.generateName)"
    )


def test_files_that_are_not_manifests_are_ignored(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {
            "values.yaml": "replicas: 3\nimage: {tag: x}\n",
            "list.yaml": "- a\n- b\n",
            "scalar.yaml": "just text\n",
            "empty.yaml": "",
            "comments.yaml": "# nothing here\n---\n",
            "sub/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n",
            "sub/kustomization.yaml": "resources: []\n",
            "config.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Component\n",
            "package.json": '{"name": "x", "version": "1.0.0"}',
            "real.yaml": cm("real"),
        },
    )
    assert names(tree, recurse=True) == ["real"]


@pytest.mark.parametrize(
    ("text", "cause", "obj"),
    [
        ("kind: ConfigMap\nmetadata: {name: x}\n", "apiVersion is missing", "ConfigMap/x"),
        ("apiVersion: v1\nmetadata: {name: x}\n", "kind is missing", None),
        ("apiVersion: v1\nkind: ConfigMap\n", "metadata is missing or not a mapping", "ConfigMap"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {}}\n",
            "metadata.name is missing",
            "ConfigMap",
        ),
        (
            "apiVersion: v1\nkind: yes\nmetadata: {name: x}\n",
            "kind must be a string, not bool",
            None,
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 0644}\n",
            "metadata.name must be a string",
            "ConfigMap",
        ),
    ],
)
def test_invalid_objects_name_file_and_document(
    tmp_path: Path, text: str, cause: str, obj: str | None
) -> None:
    tree = write(tmp_path, {"ok.yaml": cm("fine"), "bad.yaml": cm("first") + "---\n" + text})
    with pytest.raises(InvalidObjectError) as info:
        render(tree, "", app_name="app", cache_key=None)
    assert (info.value.file, info.value.doc, info.value.obj) == ("bad.yaml", 1, obj)
    assert cause in str(info.value)
    assert str(info.value).startswith("bad.yaml[doc 1]: ")


def test_generate_name_is_enough(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {"hook.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: migrate-}\n"},
    )
    assert render(tree, "", app_name="app", cache_key=None).objects[0]["kind"] == "Job"


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {"a.yaml": cm("a"), "z.yaml": cm("z") + "---\n" + "metadata:\n  name: a\n  name: b\n"},
    )
    with pytest.raises(DuplicateKeyError) as info:
        render(tree, "", app_name="app", cache_key=None)
    assert str(info.value) == "z.yaml[doc 1]: line 10: duplicate key 'name'"
    tree = write(tmp_path, {"z.yaml": "spec:\n\tx: 1\n"})
    with pytest.raises(YAMLSyntaxError, match=r"^z.yaml\[doc 0\]: line 2: .*tab"):
        render(tree, "", app_name="app", cache_key=None)


def test_json_duplicate_keys_and_numbers(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {
            "a.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "n": 3.0, "big": 9223372036854775808}\n{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y", "name": "z"}}'
        },
    )
    with pytest.raises(DuplicateKeyError, match=r"a.json\[doc 1\]: duplicate key 'name'"):
        render(tree, "", app_name="app", cache_key=None)
    (tmp_path / "a.json").write_text(
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "n": 3.0, "big": 9223372036854775808}'
    )
    obj = render(tree, "", app_name="app", cache_key=None).objects[0]
    assert (obj["n"], type(obj["n"]), type(obj["big"])) == (3, int, float)


GLOBS = [
    ({"include": ("*.yaml",)}, ["a", "b", "d"]),
    ({"include": ("*.yaml",), "recurse": False}, ["a", "b"]),
    ({"exclude": ("*-test.yaml",)}, ["a", "d", "e", "f"]),
    ({"include": ("prod/**",)}, ["d", "e"]),
    ({"include": ("prod/*.yaml",)}, ["d"]),
    ({"include": ("**/x/*",)}, ["e"]),
    ({"include": ("{a.yaml,prod/x/e.yml}",)}, ["a", "e"]),
    ({"include": ("*.yaml", "*.json"), "exclude": ("prod/**", "b-*")}, ["a", "f"]),
    ({"include": ("[ab]*.yaml",)}, ["a", "b"]),
    ({"include": ("[!ab]*",)}, ["f", "d", "e"]),
    ({"include": ("?.yaml",)}, ["a", "d"]),
]


@pytest.mark.parametrize(("globs", "expected"), GLOBS)
def test_include_and_exclude_globs(
    tmp_path: Path, globs: dict[str, object], expected: list[str]
) -> None:
    tree = write(
        tmp_path,
        {
            "a.yaml": cm("a"),
            "b-test.yaml": cm("b"),
            "f.json": json.dumps(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f"}}
            ),
            "prod/d.yaml": cm("d"),
            "prod/x/e.yml": cm("e"),
        },
    )
    options = {"recurse": True, **globs}
    assert sorted(names(tree, **options)) == sorted(expected)


def test_source_path_is_the_glob_root(tmp_path: Path) -> None:
    tree = write(tmp_path, {"apps/a.yaml": cm("a"), "apps/b.yaml": cm("b")})
    assert names(tree, "apps", include=("a.yaml",)) == ["a"]
    assert names(tree, "apps/", exclude=("apps/a.yaml",)) == ["a", "b"]


def test_path_escapes_are_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    tree = write(repo, {"apps/a.yaml": cm("a")})
    (tmp_path / "outside.yaml").write_text(cm("stolen"))
    for path in ("..", "apps/../..", "/etc"):
        with pytest.raises(ManifestPathEscapeError) as info:
            render(tree, path, app_name="app", cache_key=None)
        assert isinstance(info.value, PathEscapeError)
    os.symlink(tmp_path / "outside.yaml", repo / "apps" / "evil.yaml")
    with pytest.raises(ManifestPathEscapeError, match=r"^apps/evil.yaml: "):
        render(tree, "apps", app_name="app", cache_key=None)
    os.symlink(tmp_path, repo / "up")
    with pytest.raises(ManifestPathEscapeError):
        render(tree, "up", app_name="app", cache_key=None)


def test_symlinks_inside_the_repository_are_followed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    tree = write(repo, {"base/a.yaml": cm("a")})
    (repo / "apps").mkdir()
    os.symlink("../base/a.yaml", repo / "apps" / "a.yaml")
    assert names(tree, "apps") == ["a"]


def test_a_symlink_loop_stops_at_the_depth_limit(tmp_path: Path) -> None:
    tree = write(tmp_path, {"a/x.yaml": cm("x")})
    os.symlink("..", tmp_path / "a" / "again")
    with pytest.raises(SizeLimitError, match="symlink loop"):
        names(tree, "a", recurse=True)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match=r"^nope: path does not exist"):
        render(write(tmp_path, {}), "nope", app_name="app", cache_key=None)


def test_single_file_path(tmp_path: Path) -> None:
    tree = write(tmp_path, {"one.yaml": cm("one"), "two.yaml": cm("two")})
    assert names(tree, "one.yaml") == ["one"]


def test_a_10_mb_file_loads(tmp_path: Path) -> None:
    value = "x" * 1000
    count = 10 * 1024
    body = "".join(f"  k{i}: {value}\n" for i in range(count))
    text = cm("big").replace("data:\n  {}\n", "data:\n" + body)
    assert len(text) > 10_000_000
    tree = write(tmp_path, {"big.yaml": text})
    [obj] = render(tree, "", app_name="app", cache_key=None).objects
    assert len(obj["data"]) == count


def test_a_file_over_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    tree = write(tmp_path, {"big.yaml": cm("big") + "#" + "x" * 2000 + "\n"})
    limits = Limits(max_file_bytes=1000)
    with pytest.raises(SizeLimitError) as info:
        render(tree, "", app_name="app", cache_key=None, limits=limits)
    assert str(info.value).startswith("big.yaml: file is 2,")
    assert "over the limit of 1,000" in str(info.value)


def test_total_size_and_object_limits(tmp_path: Path) -> None:
    tree = write(tmp_path, {f"f{i:02}.yaml": cm(f"c{i}") for i in range(20)})
    with pytest.raises(SizeLimitError, match="total rendered size"):
        render(tree, "", app_name="app", cache_key=None, limits=Limits(max_total_bytes=500))
    with pytest.raises(SizeLimitError, match="more than 5 objects"):
        render(tree, "", app_name="app", cache_key=None, limits=Limits(max_objects=5))
    with pytest.raises(SizeLimitError, match="more than 10 manifest files"):
        render(tree, "", app_name="app", cache_key=None, limits=Limits(max_files=10))


def test_a_folder_of_1000_files(tmp_path: Path) -> None:
    tree = write(
        tmp_path, {f"d{i % 10}/m{i:04}.yaml": cm(f"cm-{i:04}", mode="0644") for i in range(1000)}
    )
    result = render(
        tree,
        "",
        RenderOptions(directory=DirectoryOptions(recurse=True)),
        app_name="a",
        cache_key=None,
    )
    assert len(result.objects) == 1000
    assert result.objects[0]["data"] == {"mode": 420}
    paths = [s.file for s in result.sources]
    assert paths == sorted(paths)
