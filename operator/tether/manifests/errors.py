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
    ├── SizeLimitError         a file, the total or the object count is over a limit
    ├── SourceNotFoundError    the path, a value file or a chart dependency is missing
    ├── ManifestPathEscapeError  a path or symlink leaves the repository (also a
    │   │                        ``tether.tree.PathEscapeError``)
    │   └── ReferenceEscapeError   a kustomization or chart entry points outside it
    └── RenderToolError        helm/kustomize failed or is missing
        └── RenderTimeoutError helm/kustomize ran past its timeout

Messages never include file contents or values, only names and positions, so
that secrets in a repository do not reach logs or status.
"""

from __future__ import annotations

from tether.tree import PathEscapeError


class ManifestError(Exception):
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


class SizeLimitError(ManifestError):
    """A file, the total rendered size, the object count or the nesting is over a limit."""


class SourceNotFoundError(ManifestError):
    """The source path, a value file or a chart dependency does not exist."""


class ManifestPathEscapeError(ManifestError, PathEscapeError):
    """A path (``..``) or a symlink points outside the repository root."""


class ReferenceEscapeError(ManifestPathEscapeError):
    """A reference in a kustomization, Chart.yaml or requirements.yaml leaves the repository.

    Raised before any tool runs. ``file`` is the file holding the reference and
    the cause names the entry, e.g. ``resources[2] '../../tmp/x' leaves the repository``.
    """


class RenderToolError(ManifestError):
    """helm or kustomize exited non-zero, or could not be found."""


class RenderTimeoutError(RenderToolError):
    """helm or kustomize ran longer than the timeout and was killed."""
