"""Fixtures for tests that run the real helm, kustomize and kubectl binaries.

A missing binary fails the test (it never skips): run e2e/build-tools.sh or
put the tool on PATH. ``make_tree`` builds the same files as a real Git commit
(GitTree) and as a local folder (LocalTree).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from dulwich.repo import Repo
from tree_builders import TreeFactory, git_cli, write_files

from tether.git import GitTree
from tether.manifests import LocalTree
from tether.tools import ToolNotFoundError, find_tool
from tether.tree import FileTree


def _require(name: str) -> str:
    try:
        return find_tool(name)
    except ToolNotFoundError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def kubectl() -> str:
    return _require("kubectl")


@pytest.fixture(scope="session")
def helm() -> str:
    return _require("helm")


@pytest.fixture(scope="session")
def kustomize() -> str:
    return _require("kustomize")


@pytest.fixture(params=["git", "local"])
def make_tree(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TreeFactory]:
    """Build a source tree from files and symlinks: a real Git commit read through GitTree
    (dulwich, object store), or a folder read through LocalTree."""
    opened: list[GitTree] = []
    count = iter(range(1_000_000))

    def build(files: Mapping[str, str], links: Mapping[str, str] | None = None) -> FileTree:
        root = tmp_path / f"repo{next(count)}"
        root.mkdir()
        write_files(root, files, links or {})
        if request.param == "local":
            return LocalTree(root)
        git_cli(root, "init", "-q")
        git_cli(root, "add", "-A")
        git_cli(root, "commit", "-q", "-m", "sources")
        tree = GitTree(Repo(str(root)), git_cli(root, "rev-parse", "HEAD"), owns_repo=True)
        opened.append(tree)
        return tree

    yield build
    for tree in opened:
        tree.close()
