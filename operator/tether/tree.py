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

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

EntryType = Literal["file", "dir", "symlink"]


class TreeError(Exception):
    """Base class for errors reading a source tree."""


class PathEscapeError(TreeError):
    """A path or symlink points outside the tree root."""


class TreeNotFoundError(TreeError):
    """The path does not exist in the tree."""


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
