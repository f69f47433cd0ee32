"""The exception hierarchy for manifest generation.

Every error a renderer raises is a ``ManifestError``. It carries the file it
came from, the document index inside that file (0-based, counting empty
documents), the object it concerns when known (``Kind/name``), and the cause.
``str(error)`` is one line a user can act on::

    apps/web.yaml[doc 2]: Deployment/web: metadata.name is missing

Hierarchy::

    ManifestError
    ├── YAMLSyntaxError        the bytes are not YAML/JSON kubectl would read
    │   └── DuplicateKeyError  a mapping repeats a key
    ├── InvalidObjectError     a document is not a valid Kubernetes object
    ├── DuplicateObjectError   two documents declare the same object
    ├── SizeLimitError         a file, the total or the object count is over a limit
    ├── SourceNotFoundError    the path, a value file or a chart dependency is missing
    ├── UnsupportedFileError   the path is a single file that is not YAML, JSON or Jsonnet
    ├── ManifestPathEscapeError  a path, symlink or reference leaves the repository
    │   │                        (also a ``tether.tree.PathEscapeError``)
    │   ├── ReferenceEscapeError   a kustomization or chart entry points outside it
    │   └── JsonnetImportEscapeError  ... through a Jsonnet import (``file:line:col``)
    ├── JsonnetError           a Jsonnet file failed to evaluate (``file:line:col``)
    └── RenderToolError        helm/kustomize failed or is missing
        └── RenderTimeoutError helm/kustomize/Jsonnet ran past its timeout

Messages never include file contents or values, only names and positions, so
that secrets in a repository do not reach logs or status.
"""

from __future__ import annotations

from dataclasses import dataclass

from tether.errors import TetherError
from tether.tree import PathEscapeError


class ManifestError(TetherError):
    """A source could not be turned into Kubernetes objects."""

    def __init__(
        self,
        cause: str,
        *,
        file: str | None = None,
        doc: int | None = None,
        obj: str | None = None,
        line: int | None = None,
    ) -> None:
        self.cause = cause
        self.file = file
        self.doc = doc
        self.obj = obj
        self.line = line
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The one-line form ``<file>[doc N]: <Kind/name>: <cause>``."""
        location = self.file or "<input>"
        if self.doc is not None:
            location += f"[doc {self.doc}]"
        parts = [location]
        if self.obj:
            parts.append(self.obj)
        cause = self.cause if self.line is None else f"line {self.line}: {self.cause}"
        parts.append(cause)
        return ": ".join(parts)

    def __str__(self) -> str:
        return self.message


class YAMLSyntaxError(ManifestError):
    """The bytes are not YAML (or JSON) that kubectl would accept."""


class DuplicateKeyError(YAMLSyntaxError):
    """A mapping has the same key twice (kubectl would silently keep the last)."""


class InvalidObjectError(ManifestError):
    """A document is not a Kubernetes object: apiVersion, kind or name is missing or wrong."""


class DuplicateObjectError(ManifestError):
    """Two documents declare the same object (group, kind, namespace, name).

    ``first`` and ``second`` are the two places, e.g. ``a.yaml[doc 2]``; the
    engine, which keys objects after namespace defaulting, names them by the
    object as written when the files are no longer known.
    """

    def __init__(self, obj: str, first: str, second: str) -> None:
        self.first = first
        self.second = second
        super().__init__("declared twice", obj=obj)

    @property
    def message(self) -> str:
        return f"{self.obj} is declared twice: {self.first} and {self.second}"


class SizeLimitError(ManifestError):
    """A file, the total rendered size, the object count or the nesting is over a limit."""


class SourceNotFoundError(ManifestError):
    """The source path, a value file or a chart dependency does not exist."""


class UnsupportedFileError(ManifestError):
    """The source is one file of a type Tether does not render (Markdown, an image...)."""


class ManifestPathEscapeError(ManifestError, PathEscapeError):
    """A path (``..``) or a symlink points outside the repository root."""


class ReferenceEscapeError(ManifestPathEscapeError):
    """A reference in a kustomization, Chart.yaml or requirements.yaml leaves the repository.

    Raised before any tool runs. ``file`` is the file holding the reference and
    the cause names the entry, e.g. ``resources[2] '../../tmp/x' leaves the repository``.
    """


@dataclass(frozen=True)
class Position:
    """A place in a source file, as an evaluator reports it: ``file:line:column``."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class _PositionedError(ManifestError):
    """An error whose message leads with the evaluator's ``file:line:col``."""

    def __init__(self, cause: str, *, file: str, position: Position | None = None) -> None:
        self.position = position
        super().__init__(cause, file=file, line=position.line if position else None)

    @property
    def message(self) -> str:
        return positioned(self.file or "<input>", self.position, self.cause)


class JsonnetError(_PositionedError):
    """A Jsonnet file failed to evaluate: a syntax, runtime or stack-depth error.

    ``position`` is where the evaluator points (``file:line:col``), which may be
    in an imported library; the message leads with it::

        apps/web.jsonnet:12:5: Field does not exist: replicas
        apps/web.jsonnet: lib/k.libsonnet:3:9: max stack frames exceeded.
    """


class JsonnetImportEscapeError(_PositionedError, ManifestPathEscapeError):
    """A Jsonnet import that leaves the repository; ``position`` is the import's place."""


def positioned(file: str, position: Position | None, cause: str) -> str:
    """``file:line:col: cause``, or ``file: other:line:col: cause`` when it points elsewhere."""
    if position is None:
        return f"{file}: {cause}"
    if position.file == file:
        return f"{position}: {cause}"
    return f"{file}: {position}: {cause}"


class RenderToolError(ManifestError):
    """helm or kustomize exited non-zero, or could not be found."""


class RenderTimeoutError(RenderToolError):
    """helm or kustomize ran longer than the timeout and was killed."""
