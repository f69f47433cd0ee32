"""``LocalTree``: the FileTree protocol over a folder on disk.

Used for local sources (``tether render ./folder``) and in tests. Paths are
POSIX and relative to the root; ``..`` is refused outright, and a symlink is
followed only when its target (fully resolved) lies inside the root. A symlink
that leaves the root or dangles, and anything that is neither a regular file
nor a directory (a fifo, a socket), shows as type ``"symlink"`` in listdir and
raises on read, so a renderer reports it only when it needs the file.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from tether.tree import (
    EntryType,
    PathEscapeError,
    TreeEntry,
    TreeError,
    TreeNotFoundError,
    split_tree_path,
)


class LocalTree:
    """A read-only view of the folder ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))
        if not self.root.is_dir():
            raise TreeNotFoundError(f"{root}: not a directory")

    def read(self, path: str) -> bytes:
        real = self._resolve(path)
        if not real.is_file():
            raise TreeError(f"{path!r}: not a file")
        return real.read_bytes()

    def listdir(self, path: str) -> list[TreeEntry]:
        real = self._resolve(path)
        if not real.is_dir():
            raise TreeError(f"{path!r}: not a directory")
        prefix = "/".join(split_tree_path(path))
        entries = []
        for name in sorted(os.listdir(real)):
            child = f"{prefix}/{name}" if prefix else name
            kind, size = self._describe(real / name)
            entries.append(TreeEntry(name=name, path=child, type=kind, size=size))
        return entries

    def kind(self, path: str) -> EntryType | None:
        try:
            real = self._resolve(path)
        except TreeNotFoundError:
            return None
        return "dir" if real.is_dir() else "file"

    def export(self, path: str, dest: Path) -> None:
        """Copy the subtree at ``path`` to ``dest / path``, symlinks resolved.

        An escaping symlink anywhere in the subtree fails the export, as a tool
        could otherwise read outside the repository through it; a dangling one
        is left out.
        """
        source = self._resolve(path)
        target = dest.joinpath(*split_tree_path(path))
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            return
        self._copy_dir(source, target, "/".join(split_tree_path(path)), ancestors=())

    def _copy_dir(self, source: Path, target: Path, path: str, ancestors: tuple[Path, ...]) -> None:
        if source in ancestors:
            raise TreeError(f"{path!r}: symlink loop")
        target.mkdir(parents=True, exist_ok=True)
        for name in sorted(os.listdir(source)):
            child = f"{path}/{name}" if path else name
            try:
                real = self._resolve(child)
            except TreeNotFoundError:
                continue  # a dangling symlink has nothing to copy
            if real.is_dir():
                self._copy_dir(real, target / name, child, (*ancestors, source))
            else:
                shutil.copyfile(real, target / name)

    def _resolve(self, path: str) -> Path:
        """The real location of ``path``; raises when it escapes or does not exist."""
        parts = split_tree_path(path)
        real = Path(os.path.realpath(self.root.joinpath(*parts)))
        if real != self.root and self.root not in real.parents:
            raise PathEscapeError(f"{path!r}: a symlink points outside the repository")
        if not real.exists():
            raise TreeNotFoundError(f"{path!r}: no such file or directory")
        return real

    def _describe(self, location: Path) -> tuple[EntryType, int]:
        real = Path(os.path.realpath(location))
        inside = real == self.root or self.root in real.parents
        try:
            info = real.stat()
        except OSError:
            return "symlink", 0
        if not inside:
            return "symlink", 0
        if stat.S_ISDIR(info.st_mode):
            return "dir", 0
        if stat.S_ISREG(info.st_mode):
            return "file", info.st_size
        return "symlink", 0
