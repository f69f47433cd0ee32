"""The read-only file tree that renderers read sources from.

A tree is what a source looks like to the manifest renderers: a Git commit read
straight from the object store, or a folder on disk. Renderers never touch the
filesystem or Git directly; they go through this protocol, so that path-escape
rules and size limits are enforced in one place per backend.

Paths are always POSIX, relative to the tree root, with no leading slash. The
root itself is ``""``. Implementations must refuse paths that leave the root
(``..``) and symlinks whose target lies outside the root, raising
``PathEscapeError``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, Protocol

from tether.errors import TetherError

EntryType = Literal["file", "dir", "symlink"]


class TreeError(TetherError):
    """Base class for errors reading a source tree."""


class PathEscapeError(TreeError):
    """A path or symlink points outside the tree root."""


class TreeNotFoundError(TreeError):
    """The path does not exist in the tree."""


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot name a place inside a tree, or None: the one set of path rules.

    Relative POSIX paths only: no NUL, no backslash, no leading ``/``, no ``..``
    part. The API models, the renderers and both tree backends all ask this.
    """
    if "\0" in path:
        return "the path contains a NUL character"
    if "\\" in path:
        return f"{path!r} uses a backslash: separate folders with /"
    if path.startswith("/"):
        return f"{path!r} must be relative to the repository root: remove the leading /"
    if ".." in path.split("/"):
        return f"{path!r} must not contain '..': paths cannot leave the repository"
    return None


def split_tree_path(path: str) -> tuple[str, ...]:
    """The parts of a valid tree path (``.`` and empty parts dropped); raises PathEscapeError."""
    problem = path_problem(path)
    if problem is not None:
        raise PathEscapeError(problem)
    return tuple(part for part in PurePosixPath(path).parts if part not in ("", "."))


def joined_path(base: str, name: str) -> str | None:
    """``name`` taken relative to the folder ``base``, in normal form; None if it leaves the root."""
    if name.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join(base or ".", name))
    if joined == ".." or joined.startswith("../"):
        return None
    return "" if joined == "." else joined


@dataclass(frozen=True)
class TreeEntry:
    """One child of a directory: its name, full path and type."""

    name: str
    path: str
    type: EntryType
    size: int = 0


class FileTree(Protocol):
    """A read-only view of a source: a Git commit or a local folder."""

    def read(self, path: str) -> bytes:
        """Return a file's bytes, following in-tree symlinks."""
        ...

    def listdir(self, path: str) -> list[TreeEntry]:
        """Return a directory's entries, sorted by name. Symlinks are resolved."""
        ...

    def kind(self, path: str) -> EntryType | None:
        """Return the resolved type at ``path``, or None when it does not exist."""
        ...

    def export(self, path: str, dest: Path) -> None:
        """Write the subtree at ``path`` under ``dest / path``.

        The renderers do not use this: they export only the files a render reads,
        one by one through ``read``, within the render's budget
        (``tether.manifests.export``), so a whole-tree export never happens there.
        """
        ...
