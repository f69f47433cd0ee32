"""``ArchiveTree``: the FileTree protocol over a chart or artifact tarball, in memory.

A Helm chart ``.tgz`` or a Flux content layer (``tar+gzip``) is unpacked once
into a dict of files, so renderers read it exactly as they read a Git commit:
through ``tether.tree.FileTree``, with the same path rules. Unpacking refuses,
with an ``ArchiveError`` naming the entry, anything that could leave the root or
the budget: absolute names, ``..`` parts, backslashes, symlinks and hard links
whose target leaves the archive, devices and fifos, and archives over the file
count or size limit. A symlink that stays inside is kept and followed on read.
Nothing is written to disk except by ``export``, which writes only regular files.
"""

from __future__ import annotations

import gzip
import io
import posixpath
import tarfile
import zlib
from pathlib import Path

from tether.sources.errors import ArchiveError
from tether.tree import (
    EntryType,
    PathEscapeError,
    TreeEntry,
    TreeError,
    TreeNotFoundError,
    joined_path,
    path_problem,
    split_tree_path,
)

MAX_ARCHIVE_FILES = 10_000
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024
_MAX_LINK_HOPS = 16


def _clean_name(name: str, where: str) -> str:
    """The entry name in tree form; raises ArchiveError for names that leave the root."""
    if name.startswith("/"):
        raise ArchiveError(f"archive entry {name!r} has an absolute path", url=where)
    stripped = name.removeprefix("./").rstrip("/")
    problem = path_problem(stripped)
    if problem is not None:
        raise ArchiveError(f"archive entry {name!r} is refused: {problem}", url=where)
    normal = posixpath.normpath(stripped) if stripped else ""
    return "" if normal == "." else normal


class ArchiveTree:
    """A read-only tree of the regular files (and in-tree symlinks) of one tarball."""

    def __init__(self, files: dict[str, bytes], links: dict[str, str]) -> None:
        self._files = files
        self._links = links
        dirs = {""}
        for path in (*files, *links):
            parent = posixpath.dirname(path)
            while parent not in dirs:
                dirs.add(parent)
                parent = posixpath.dirname(parent)
        self._dirs = dirs

    @classmethod
    def from_tgz(cls, data: bytes, *, where: str = "") -> ArchiveTree:
        """Unpack a gzip'd tarball; see the module docstring for what is refused."""
        try:
            raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        except (OSError, EOFError, zlib.error) as exc:
            raise ArchiveError(f"not a gzip archive: {exc}", url=where) from None
        if len(raw) > MAX_ARCHIVE_BYTES:
            raise ArchiveError(f"archive unpacks to more than {MAX_ARCHIVE_BYTES} bytes", url=where)
        files: dict[str, bytes] = {}
        links: dict[str, str] = {}
        try:
            with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
                for member in tar:
                    if len(files) + len(links) >= MAX_ARCHIVE_FILES:
                        raise ArchiveError(
                            f"archive has more than {MAX_ARCHIVE_FILES} entries", url=where
                        )
                    cls._take(tar, member, files, links, where)
        except tarfile.TarError as exc:
            raise ArchiveError(f"not a tar archive: {exc}", url=where) from None
        tree = cls(files, links)
        for path in links:
            tree._resolve(path)  # every kept link must land inside, and not loop
        return tree

    @staticmethod
    def _take(
        tar: tarfile.TarFile,
        member: tarfile.TarInfo,
        files: dict[str, bytes],
        links: dict[str, str],
        where: str,
    ) -> None:
        if member.type in (tarfile.XHDTYPE, tarfile.XGLTYPE):
            return
        name = _clean_name(member.name, where)
        if member.isdir():
            return
        if not name:
            raise ArchiveError(f"archive entry {member.name!r} has no name", url=where)
        if member.issym() or member.islnk():
            base = posixpath.dirname(name) if member.issym() else ""
            target = joined_path(base, member.linkname)
            if target is None or member.linkname.startswith("/"):
                raise ArchiveError(
                    f"archive entry {member.name!r} links outside the archive "
                    f"({member.linkname!r})",
                    url=where,
                )
            links[name] = target
            return
        if not member.isfile():
            raise ArchiveError(
                f"archive entry {member.name!r} is not a regular file, folder or link", url=where
            )
        handle = tar.extractfile(member)
        files[name] = handle.read() if handle is not None else b""

    # -- FileTree ---------------------------------------------------------------------

    def _resolve(self, path: str) -> str:
        """The path after following in-archive links; raises for escapes and loops."""
        current = "/".join(split_tree_path(path))
        for _ in range(_MAX_LINK_HOPS):
            parts = current.split("/") if current else []
            for index in range(1, len(parts) + 1):
                prefix = "/".join(parts[:index])
                if prefix in self._links:
                    rest = "/".join(parts[index:])
                    target = self._links[prefix]
                    current = posixpath.join(target, rest) if rest else target
                    break
            else:
                return current
        raise PathEscapeError(f"{path!r}: too many symlinks (a loop?)")

    def read(self, path: str) -> bytes:
        real = self._resolve(path)
        if real not in self._files:
            if real in self._dirs:
                raise TreeError(f"{path!r}: not a file")
            raise TreeNotFoundError(f"{path!r}: no such file")
        return self._files[real]

    def kind(self, path: str) -> EntryType | None:
        try:
            real = self._resolve(path)
        except TreeError:
            return None
        if real in self._files:
            return "file"
        return "dir" if real in self._dirs else None

    def listdir(self, path: str) -> list[TreeEntry]:
        real = self._resolve(path)
        if real not in self._dirs:
            raise TreeError(f"{path!r}: not a directory")
        prefix = "/".join(split_tree_path(path))
        names = {
            p[len(real) + 1 if real else 0 :].split("/", 1)[0]
            for p in (*self._files, *self._links, *self._dirs)
            if p and (not real or p.startswith(real + "/"))
        }
        entries = []
        for name in sorted(names):
            child = f"{prefix}/{name}" if prefix else name
            kind = self.kind(child) or "symlink"
            size = len(self._files.get(self._resolve(child), b"")) if kind == "file" else 0
            entries.append(TreeEntry(name=name, path=child, type=kind, size=size))
        return entries

    def export(self, path: str, dest: Path) -> None:
        """Write the regular files under ``path`` to ``dest / <path>``."""
        base = "/".join(split_tree_path(path))
        for name, data in self._files.items():
            if base and name != base and not name.startswith(base + "/"):
                continue
            target = dest.joinpath(*split_tree_path(name))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def close(self) -> None:
        """Nothing to release; here so callers can treat every tree alike."""

    def top_folders(self) -> list[str]:
        """The names of the folders at the root (a chart archive has exactly one)."""
        return sorted(e.name for e in self.listdir("") if e.type == "dir")
