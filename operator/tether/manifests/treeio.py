"""FileTree calls with tree errors turned into ManifestErrors that name the path.

Renderers call the tree only through these helpers, so a path escape or a
missing file always surfaces as a ManifestError subclass, and every file read
is counted against the render's Budget (size checked before reading when the
tree reports a size, and again after; the render's time budget and shutdown before
each read).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import TypeVar

from tether.manifests.errors import (
    ManifestError,
    ManifestPathEscapeError,
    ReferenceEscapeError,
    SourceNotFoundError,
)
from tether.manifests.limits import Budget
from tether.manifests.toolrun import check_not_stopping
from tether.tree import (
    EntryType,
    FileTree,
    PathEscapeError,
    TreeEntry,
    TreeError,
    TreeNotFoundError,
)

T = TypeVar("T")


def read_file(tree: FileTree, path: str, budget: Budget, size_hint: int | None = None) -> bytes:
    """Read ``path``, refusing it when it is over the file or total size limits, when the
    render has used up its time, or once Tether is shutting down."""
    check_not_stopping(file=path)
    budget.check_time(file=path)
    if size_hint is not None:
        budget.check_file_size(size_hint, file=path)
    data = _call(path, lambda: tree.read(path))
    budget.add_file(len(data), file=path)
    return data


def tree_listdir(tree: FileTree, path: str) -> list[TreeEntry]:
    """The entries of a folder, sorted by name."""
    return _call(path, lambda: tree.listdir(path))


def tree_kind(tree: FileTree, path: str) -> EntryType | None:
    """The type at ``path``, or None when it does not exist."""
    return _call(path, lambda: tree.kind(path))


def resolve_reference(
    tree: FileTree, folder: str, entry: str, *, file: str, where: str, shown: str = ""
) -> tuple[str, EntryType | None]:
    """The tree path that ``entry`` (written in ``file``, at ``where``; ``shown`` as written,
    when that differs) names from ``folder``, and its type (None when missing). Raises
    ReferenceEscapeError, naming the file and the entry, when the entry is absolute, climbs
    out with ``..`` or leaves through a symlink."""
    label = f"{where} {shown or entry!r}"
    if entry.startswith("/"):
        raise _escape(label, file, " (absolute paths are not allowed)")
    joined = posixpath.normpath(posixpath.join(folder or ".", entry))
    if joined == ".." or joined.startswith("../"):
        raise _escape(label, file, "")
    path = "" if joined == "." else joined
    try:
        return path, tree.kind(path)
    except PathEscapeError:
        raise _escape(label, file, " (through a symlink)") from None
    except TreeError as exc:
        raise ManifestError(f"{label}: {exc}", file=file) from None


def _escape(label: str, file: str, how: str) -> ReferenceEscapeError:
    return ReferenceEscapeError(f"{label} leaves the repository{how}", file=file)


def _call(path: str, action: Callable[[], T]) -> T:
    shown = path or "."
    try:
        return action()
    except PathEscapeError as exc:
        raise ManifestPathEscapeError(_cause(exc, path), file=shown) from None
    except TreeNotFoundError as exc:
        raise SourceNotFoundError(_cause(exc, path), file=shown) from None
    except TreeError as exc:
        raise ManifestError(_cause(exc, path), file=shown) from None


def _cause(exc: Exception, path: str) -> str:
    """The tree's message without a repeated path prefix."""
    text = str(exc)
    for prefix in (f"{path!r}: ", f"{path}: "):
        text = text.removeprefix(prefix)
    return text
