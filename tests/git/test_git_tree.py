"""GitTree reads a commit from the object store: files, folders, symlinks, escapes, export."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_servers import SampleRepo

from tether.git import FileURLPolicy, GitCache, GitTree
from tether.tree import PathEscapeError, TreeError, TreeNotFoundError


@pytest.fixture
def tree(sample_repo: SampleRepo, tmp_path: Path) -> Iterator[GitTree]:
    import asyncio

    cache = GitCache(tmp_path / "cache", file_urls=FileURLPolicy((sample_repo.bare.parent,)))
    snap = asyncio.run(cache.fetch(f"file://{sample_repo.bare}", "main", insecure=True))
    with cache.tree(snap) as opened:
        yield opened


def test_read_and_list(tree: GitTree) -> None:
    assert tree.read("manifests/b.yaml") == b"kind: B\n"
    assert tree.read("./manifests//b.yaml") == b"kind: B\n"
    names = [(e.name, e.type) for e in tree.listdir("")]
    assert names == sorted(names)
    assert ("manifests", "dir") in names and ("README.md", "file") in names
    entry = next(e for e in tree.listdir("manifests") if e.name == "a.yaml")
    assert (entry.path, entry.type, entry.size) == ("manifests/a.yaml", "file", len(b"kind: A\n"))


def test_kind(tree: GitTree) -> None:
    assert tree.kind("") == "dir"
    assert tree.kind("deep/x/y") == "dir"
    assert tree.kind("deep/x/y/z.txt") == "file"
    assert tree.kind("missing.yaml") is None
    assert tree.kind("README.md/child") is None


def test_symlinks_inside_are_followed(tree: GitTree) -> None:
    assert tree.read("links/file.yaml") == b"kind: A\n"
    assert tree.read("links/inside/c.yaml") == b"kind: C\n"
    assert tree.read("links/chain") == b"kind: B\n"
    assert tree.kind("links/inside") == "dir"
    assert [e.name for e in tree.listdir("links/inside")] == ["a.yaml", "b.yaml", "c.yaml"]
    kinds = {e.name: e.type for e in tree.listdir("links")}
    assert kinds["inside"] == "dir" and kinds["file.yaml"] == "file"
    assert kinds["outside"] == kinds["absolute"] == kinds["loop"] == "symlink"


@pytest.mark.parametrize("path", ["links/outside", "links/outside/passwd", "links/absolute"])
def test_symlinks_outside_are_refused(tree: GitTree, path: str) -> None:
    with pytest.raises(PathEscapeError, match="leaves the repository"):
        tree.read(path)


@pytest.mark.parametrize(
    "path", ["../etc/passwd", "manifests/../../x", "/etc/passwd", "a/../README.md"]
)
def test_dotdot_and_absolute_paths_are_refused(tree: GitTree, path: str) -> None:
    with pytest.raises(PathEscapeError):
        tree.read(path)
    with pytest.raises(PathEscapeError):
        tree.kind(path)


def test_symlink_loop(tree: GitTree) -> None:
    with pytest.raises(TreeError, match="symbolic links"):
        tree.read("links/loop")


def test_missing_and_wrong_type(tree: GitTree) -> None:
    with pytest.raises(TreeNotFoundError):
        tree.read("nope.yaml")
    with pytest.raises(TreeError, match="directory"):
        tree.read("manifests")
    with pytest.raises(TreeError, match="not a directory"):
        tree.listdir("README.md")


def test_export_writes_files_and_keeps_layout(tree: GitTree, tmp_path: Path) -> None:
    tree.export("deep", tmp_path / "out")
    assert (tmp_path / "out/deep/x/y/z.txt").read_text() == "deep\n"
    assert not (tmp_path / "out/README.md").exists()
    tree.export("bin/run.sh", tmp_path / "one")
    assert (tmp_path / "one/bin/run.sh").read_text().startswith("#!/bin/sh")
    tree.export("bin", tmp_path / "two")
    assert os.access(tmp_path / "two/bin/run.sh", os.X_OK)
    assert not os.access(tmp_path / "out/deep/x/y/z.txt", os.X_OK)


def test_export_materialises_inside_links_and_refuses_escapes(
    tree: GitTree, tmp_path: Path
) -> None:
    tree.export("manifests", tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m/manifests").iterdir()) == [
        "a.yaml",
        "b.yaml",
        "c.yaml",
    ]
    with pytest.raises(PathEscapeError):
        tree.export("links", tmp_path / "l")


def test_exported_context_removes_folder(tree: GitTree) -> None:
    with tree.exported("manifests") as folder:
        assert (folder / "manifests/a.yaml").read_bytes() == b"kind: A\n"
    assert not folder.exists()
    with pytest.raises(RuntimeError), tree.exported("deep") as failing:
        raise RuntimeError("tool failed")
    assert not failing.exists()


def test_trees_are_parsed_once_across_views(sample_repo: SampleRepo, tmp_path: Path) -> None:
    """Two views of one commit (two apps' renders) share the parsed folders."""
    import asyncio

    cache = GitCache(tmp_path / "cache", file_urls=FileURLPolicy((sample_repo.bare.parent,)))
    snap = asyncio.run(cache.fetch(f"file://{sample_repo.bare}", "main", insecure=True))
    with cache.tree(snap) as first:
        assert first.read("manifests/b.yaml") == b"kind: B\n"
    parsed = len(cache.trees)
    assert parsed == 2  # the root and manifests/
    with cache.tree(snap) as second:
        assert second.read("manifests/a.yaml") == b"kind: A\n"
        assert second.kind("manifests") == "dir"
    assert len(cache.trees) == parsed  # nothing parsed again


def test_tree_memo_is_bounded_by_entries_and_keyed_by_repository() -> None:
    from dulwich.objects import Blob, Tree

    from tether.git.tree import TreeMemo

    blob = Blob.from_string(b"x")

    def tree_of(n: int, tag: str) -> Tree:
        tree = Tree()
        for i in range(n):
            tree.add(f"{tag}{i}".encode(), 0o100644, blob.id)
        return tree

    memo = TreeMemo(max_entries=10)
    a, b, c = tree_of(4, "a"), tree_of(4, "b"), tree_of(4, "c")
    memo.put("repo1", a.id, a)
    memo.put("repo1", b.id, b)
    assert memo.get("repo2", a.id) is None  # another repository's object never answers
    assert memo.get("repo1", a.id) is a  # a is now the most recently used
    memo.put("repo1", c.id, c)  # 12 entries > 10: the least recently used (b) goes
    assert memo.get("repo1", b.id) is None
    assert memo.get("repo1", a.id) is a and memo.get("repo1", c.id) is c
    memo.put("repo1", b"big", tree_of(11, "d"))  # larger than the bound: not kept
    assert memo.get("repo1", b"big") is None and len(memo) == 2
