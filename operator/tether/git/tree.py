"""``GitTree``: a commit's files read straight from a bare repository's object store.

Implements ``tether.tree.FileTree`` without a checkout. Paths are POSIX and
relative to the repository root; ``..`` is refused. Symlinks (mode 0o120000)
are followed when their target stays inside the repository; a target that
leaves it raises ``PathEscapeError``. Submodules (gitlinks) are not content of
this repository and read as absent.

``export`` writes a subtree to disk for tools that need files (helm,
kustomize), with in-repo symlinks materialised as real files and folders;
``exported`` is the context-managed form that removes the folder afterwards.

``TreeMemo`` keeps parsed trees by (repository, tree id) across ``GitTree``
views: every read walks the path from the root, and without it each app of a
monorepo parsed the root and the shared parent folder (one entry per app) again
for every file it read, work linear in the number of apps, per app.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.repo import Repo

from tether.tree import (
    EntryType,
    PathEscapeError,
    TreeEntry,
    TreeError,
    TreeNotFoundError,
    split_tree_path,
)

_MAX_LINK_HOPS = 40
_GITLINK = 0o160000


class TreeMemo:
    """Parsed trees by (repository, tree id), least recently used out; thread-safe.

    A tree id names its content, so a parsed tree never goes stale. The repository is
    part of the key so that one repository's objects never answer for another's.
    Bounded by the entries of the trees it holds (about 150 bytes each parsed), so a
    few huge folders cannot hold more than a small number of MiB.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._trees: OrderedDict[tuple[str, bytes], Tree] = OrderedDict()
        self._entries = 0
        self._lock = threading.Lock()

    def get(self, repo: str, sha: bytes) -> Tree | None:
        with self._lock:
            tree = self._trees.get((repo, sha))
            if tree is not None:
                self._trees.move_to_end((repo, sha))
            return tree

    def put(self, repo: str, sha: bytes, tree: Tree) -> None:
        size = len(tree)
        if size > self.max_entries:
            return
        with self._lock:
            old = self._trees.pop((repo, sha), None)
            self._entries -= len(old) if old is not None else 0
            self._trees[(repo, sha)] = tree
            self._entries += size
            while self._entries > self.max_entries:
                _, dropped = self._trees.popitem(last=False)
                self._entries -= len(dropped)

    def __len__(self) -> int:
        return len(self._trees)


class GitTree:
    """A read-only view of one commit in ``repo``."""

    def __init__(
        self,
        repo: Repo,
        commit: str,
        *,
        owns_repo: bool = False,
        memo: TreeMemo | None = None,
        release: Callable[[Repo], None] | None = None,
    ) -> None:
        self._repo = repo
        self._store = repo.object_store
        self._owns_repo = owns_repo
        self._release = release  # hands the repository back (a pool's) instead of closing
        # Without a shared memo, one of its own: a render reads each folder many times.
        self._memo = memo if memo is not None else TreeMemo(10_000)
        self._memo_key = str(repo.path)
        try:
            obj = self._store[ObjectID(commit.encode())]
        except BaseException:
            self.close()
            raise
        if not isinstance(obj, Commit):
            self.close()
            raise TreeError(f"{commit} is not a commit")
        self.commit = commit
        self._root = obj.tree

    def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release(self._repo)
        elif self._owns_repo:
            self._owns_repo = False
            self._repo.close()

    def __enter__(self) -> GitTree:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def read(self, path: str) -> bytes:
        mode, sha = self._resolve(path)
        if stat.S_ISDIR(mode):
            raise TreeError(f"{path}: is a directory")
        blob = self._store[ObjectID(sha)]
        assert isinstance(blob, Blob)
        return blob.as_raw_string()

    def listdir(self, path: str) -> list[TreeEntry]:
        mode, sha = self._resolve(path)
        if not stat.S_ISDIR(mode):
            raise TreeError(f"{path}: not a directory")
        base = _clean(path)
        entries = []
        for item in self._tree(sha).iteritems():
            if item.mode == _GITLINK:
                continue
            name = item.path.decode("utf-8", "surrogateescape")
            child = f"{base}/{name}" if base else name
            entries.append(self._entry(name, child, item.mode, item.sha))
        return sorted(entries, key=lambda e: e.name)

    def kind(self, path: str) -> EntryType | None:
        try:
            mode, _ = self._resolve(path)
        except TreeNotFoundError:
            return None
        return "dir" if stat.S_ISDIR(mode) else "file"

    def export(self, path: str, dest: Path) -> None:
        """Write the subtree at ``path`` to ``dest / path`` (the whole tree when ``path`` is '')."""
        base = _clean(path)
        target = dest / base if base else dest
        mode, sha = self._resolve(base)
        if stat.S_ISDIR(mode):
            self._export_dir(base, sha, target, depth=0)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.read(base))

    @contextmanager
    def exported(self, path: str = "") -> Iterator[Path]:
        """Export to a fresh temp folder and yield it; the folder is removed afterwards."""
        folder = Path(tempfile.mkdtemp(prefix="tether-src-"))
        try:
            self.export(path, folder)
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _export_dir(self, path: str, sha: bytes, target: Path, depth: int) -> None:
        if depth > 64:
            raise TreeError(f"{path}: folders nest too deep (symlink loop?)")
        target.mkdir(parents=True, exist_ok=True)
        for item in self._tree(sha).iteritems():
            if item.mode == _GITLINK:
                continue
            name = item.path.decode("utf-8", "surrogateescape")
            child = f"{path}/{name}" if path else name
            mode, child_sha = self._resolve(child)
            if stat.S_ISDIR(mode):
                self._export_dir(child, child_sha, target / name, depth + 1)
            else:
                blob = self._store[ObjectID(child_sha)]
                assert isinstance(blob, Blob)
                (target / name).write_bytes(blob.as_raw_string())
                if mode & 0o111:
                    (target / name).chmod(0o755)

    def _entry(self, name: str, path: str, mode: int, sha: bytes) -> TreeEntry:
        if stat.S_ISLNK(mode):
            try:
                mode, sha = self._resolve(path)
            except TreeError:
                return TreeEntry(name, path, "symlink")
        if stat.S_ISDIR(mode):
            return TreeEntry(name, path, "dir")
        return TreeEntry(name, path, "file", len(self._store.get_raw(ObjectID(sha))[1]))

    def _tree(self, sha: bytes) -> Tree:
        found = self._memo.get(self._memo_key, sha)
        if found is not None:
            return found
        obj = self._store[ObjectID(sha)]
        assert isinstance(obj, Tree)
        self._memo.put(self._memo_key, sha, obj)
        return obj

    def _resolve(self, path: str) -> tuple[int, bytes]:
        """Walk ``path`` from the root, following in-tree symlinks; return (mode, sha)."""
        pending = list(_parts(path))
        done: list[str] = []
        mode, sha = stat.S_IFDIR, self._root
        hops = 0
        while pending:
            name = pending.pop(0)
            if not stat.S_ISDIR(mode):
                raise TreeNotFoundError(f"{'/'.join(done)}: not a directory")
            try:
                mode, sha = self._tree(sha)[name.encode("utf-8", "surrogateescape")]
            except KeyError:
                raise TreeNotFoundError(
                    f"{'/'.join([*done, name])}: no such file or directory"
                ) from None
            if mode == _GITLINK:
                raise TreeNotFoundError(f"{'/'.join([*done, name])}: is a submodule")
            if stat.S_ISLNK(mode):
                hops += 1
                if hops > _MAX_LINK_HOPS:
                    raise TreeError(f"{path}: too many levels of symbolic links")
                link = "/".join([*done, name])
                pending = self._link_target(link, done, sha) + pending
                done, mode, sha = [], stat.S_IFDIR, self._root
                continue
            done.append(name)
        return mode, sha

    def _link_target(self, link: str, parent: list[str], sha: bytes) -> list[str]:
        blob = self._store[ObjectID(sha)]
        assert isinstance(blob, Blob)
        target = blob.as_raw_string().decode("utf-8", "surrogateescape")
        if target.startswith("/"):
            raise PathEscapeError(
                f"{link}: symlink to absolute path {target!r} leaves the repository"
            )
        parts: list[str] = list(parent)
        for piece in PurePosixPath(target).parts:
            if piece == "..":
                if not parts:
                    raise PathEscapeError(f"{link}: symlink to {target!r} leaves the repository")
                parts.pop()
            elif piece != ".":
                parts.append(piece)
        return parts


def _parts(path: str) -> list[str]:
    return list(split_tree_path(path))


def _clean(path: str) -> str:
    return "/".join(_parts(path))
