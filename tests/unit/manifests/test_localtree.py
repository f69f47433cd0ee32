"""LocalTree: the FileTree protocol on disk, with `..` and symlink escapes refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tether.manifests.localtree import LocalTree
from tether.tree import PathEscapeError, TreeError, TreeNotFoundError


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "apps" / "web").mkdir(parents=True)
    (root / "apps" / "web" / "a.yaml").write_text("a: 1\n")
    (root / "shared.yaml").write_text("s: 1\n")
    (tmp_path / "secret.txt").write_text("top secret\n")
    os.symlink("../shared.yaml", root / "apps" / "link.yaml")
    os.symlink("web", root / "apps" / "web-link")
    os.symlink(tmp_path / "secret.txt", root / "apps" / "escape.yaml")
    os.symlink("../../", root / "apps" / "up")
    os.symlink("missing.yaml", root / "apps" / "dangling.yaml")
    return root


def test_reads_files_and_follows_inside_symlinks(layout: Path) -> None:
    tree = LocalTree(layout)
    assert tree.read("apps/web/a.yaml") == b"a: 1\n"
    assert tree.read("./apps//link.yaml") == b"s: 1\n"
    assert tree.read("apps/web-link/a.yaml") == b"a: 1\n"


def test_listdir_is_sorted_and_marks_unusable_links(layout: Path) -> None:
    entries = {e.name: (e.path, e.type) for e in LocalTree(layout).listdir("apps")}
    assert list(entries) == sorted(entries)
    assert entries["link.yaml"] == ("apps/link.yaml", "file")
    assert entries["web-link"] == ("apps/web-link", "dir")
    assert entries["escape.yaml"][1] == "symlink"
    assert entries["up"][1] == "symlink"
    assert entries["dangling.yaml"][1] == "symlink"
    root_entries = LocalTree(layout).listdir("")
    assert [(e.path, e.size) for e in root_entries if e.type == "file"] == [("shared.yaml", 5)]


@pytest.mark.parametrize(
    "path", ["../secret.txt", "apps/../../secret.txt", "apps/..", "/etc/passwd"]
)
def test_dotdot_and_absolute_paths_are_refused(layout: Path, path: str) -> None:
    with pytest.raises(PathEscapeError):
        LocalTree(layout).read(path)


@pytest.mark.parametrize("path", ["apps/escape.yaml", "apps/up/secret.txt", "apps/up"])
def test_symlinks_out_of_the_root_are_refused(layout: Path, path: str) -> None:
    tree = LocalTree(layout)
    with pytest.raises(PathEscapeError):
        tree.read(path)
    with pytest.raises(PathEscapeError):
        tree.kind(path)


def test_kind_and_missing_paths(layout: Path) -> None:
    tree = LocalTree(layout)
    assert tree.kind("") == "dir"
    assert tree.kind("apps/web/a.yaml") == "file"
    assert tree.kind("apps/nope") is None
    assert tree.kind("apps/dangling.yaml") is None
    with pytest.raises(TreeNotFoundError):
        tree.read("apps/nope.yaml")
    with pytest.raises(TreeError):
        tree.read("apps")


def test_export_copies_with_symlinks_resolved(layout: Path, tmp_path: Path) -> None:
    os.remove(layout / "apps" / "escape.yaml")
    os.remove(layout / "apps" / "up")
    os.remove(layout / "apps" / "dangling.yaml")
    dest = tmp_path / "out"
    LocalTree(layout).export("", dest)
    assert (dest / "apps" / "link.yaml").read_text() == "s: 1\n"
    assert not (dest / "apps" / "link.yaml").is_symlink()
    assert (dest / "apps" / "web-link" / "a.yaml").read_text() == "a: 1\n"
    LocalTree(layout).export("apps/web", tmp_path / "sub")
    assert (tmp_path / "sub" / "apps" / "web" / "a.yaml").exists()


def test_export_refuses_an_escaping_symlink(layout: Path, tmp_path: Path) -> None:
    with pytest.raises(PathEscapeError):
        LocalTree(layout).export("", tmp_path / "out")


def test_export_refuses_a_symlink_loop(tmp_path: Path) -> None:
    root = tmp_path / "loop"
    (root / "a").mkdir(parents=True)
    os.symlink("..", root / "a" / "back")
    with pytest.raises(TreeError, match="loop"):
        LocalTree(root).export("", tmp_path / "out")


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(TreeNotFoundError):
        LocalTree(tmp_path / "nope")
