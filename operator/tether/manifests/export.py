"""Write only what a render needs to a private folder, within the render's budget.

Tools need files on disk; the rest of the repository stays in the object
store. ``export_closure`` writes the files a kustomization graph reads (see
``kustgraph``); ``export_subtree`` writes a Helm chart's folder and
``export_file`` one value file. Every file goes through ``treeio.read_file``,
so it is counted against the Budget (files, bytes), and the time budget and
shutdown are checked between files: a heavy source stops at its limit, not
at the end of the copy. Files are written as regular files: the exported
copy holds no symlinks. Inside an exported folder, a symlink whose target
leaves the repository fails the render, naming it; a dangling one is left
out. Files outside the exported paths are never read, so a bad file
elsewhere in the repository does not affect this render.
"""

from __future__ import annotations

from pathlib import Path

from tether.manifests.errors import ManifestError, ReferenceEscapeError
from tether.manifests.kustgraph import Closure
from tether.manifests.limits import Budget
from tether.manifests.toolrun import check_not_stopping
from tether.manifests.treeio import read_file, tree_listdir
from tether.tree import FileTree, PathEscapeError, TreeEntry, TreeError, split_tree_path


def export_closure(tree: FileTree, closure: Closure, dest: Path, budget: Budget) -> None:
    """Write the closure's folders and files under ``dest``, at their tree paths."""
    unread = [path for path in closure.files if path not in closure.contents]
    budget.check_files(len(unread), file=min(unread, default="."))
    for folder in sorted(closure.dirs):
        dest.joinpath(*split_tree_path(folder)).mkdir(parents=True, exist_ok=True)
    for path in sorted(closure.files):
        _checkpoint(budget, path)
        data = closure.contents.get(path)
        _write(dest, path, data if data is not None else read_file(tree, path, budget))


def export_file(tree: FileTree, path: str, dest: Path, budget: Budget) -> None:
    """Write one file under ``dest`` at its tree path."""
    _checkpoint(budget, path)
    _write(dest, path, read_file(tree, path, budget))


def export_subtree(tree: FileTree, folder: str, dest: Path, budget: Budget, depth: int = 0) -> None:
    """Write the folder ``folder`` and everything under it (a Helm chart) under ``dest``."""
    _checkpoint(budget, folder or ".")
    if depth > budget.limits.max_dir_depth:
        raise ManifestError("folders nest too deep (a symlink loop?)", file=folder or ".")
    dest.joinpath(*split_tree_path(folder)).mkdir(parents=True, exist_ok=True)
    for entry in tree_listdir(tree, folder):
        kind = _kind(tree, entry)
        if kind == "dir":
            export_subtree(tree, entry.path, dest, budget, depth + 1)
        elif kind == "file":
            _checkpoint(budget, entry.path)
            size = entry.size if entry.type == "file" else None
            _write(dest, entry.path, read_file(tree, entry.path, budget, size_hint=size))


def _kind(tree: FileTree, entry: TreeEntry) -> str | None:
    """An entry's type. The listing marks "symlink" what it could not resolve to a regular
    file or folder: refuse it if it escapes, skip it if it dangles (or is a fifo)."""
    if entry.type != "symlink":
        return entry.type
    try:
        tree.kind(entry.path)
    except PathEscapeError:
        raise ReferenceEscapeError(
            "symlink leaves the repository; the render reads this folder", file=entry.path
        ) from None
    except TreeError as exc:
        raise ManifestError(str(exc), file=entry.path) from None
    return None


def _write(dest: Path, path: str, data: bytes) -> None:
    target = dest.joinpath(*split_tree_path(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _checkpoint(budget: Budget, path: str) -> None:
    check_not_stopping(file=path)
    budget.check_time(file=path)
