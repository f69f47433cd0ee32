"""Typed errors raised by the Helm repository and OCI registry fetch layer.

Hierarchy (every error a caller may see from ``tether.sources``)::

    SourceError                 base class; the message names the URL and what was asked
    +-- InsecureSourceError     http:// without insecure, or a URL that cannot be parsed
    +-- SourceAuthError         credentials missing or refused (401/403, token refused)
    +-- SourceNotFoundError     no such repository, chart, tag or blob (404)
    +-- VersionNotFoundError    nothing matches the version, range or tag asked for
    +-- DigestMismatchError     downloaded bytes differ from the digest they were named by
    +-- ArchiveError            a chart or artifact archive is malformed, too big, or has
    |                           entries that leave its root (``..``, absolute, symlinks out)
    +-- UnsupportedArtifactError  an OCI artifact that is neither a Helm chart nor manifests
    +-- SourceFetchError        the server could not be reached, timed out or answered 5xx

Messages carry URLs with credentials stripped and never contain secret
material. The mapping from urllib3 and HTTP statuses to these types lives in
``tether.sources.http``; the operator maps these types to condition reasons in
one place (``tether.controller.repository.classify``).
"""

from __future__ import annotations

from tether.errors import TetherError


class SourceError(TetherError):
    """Base class for every Helm repository or OCI registry failure."""

    def __init__(self, message: str, *, url: str = "", ref: str = "") -> None:
        self.message = message
        self.url = url
        self.ref = ref
        context = ", ".join(f"{k}={v}" for k, v in (("url", url), ("ref", ref)) if v)
        super().__init__(f"{message} ({context})" if context else message)


class InsecureSourceError(SourceError):
    """The URL is plain http:// without ``insecure``, or cannot be parsed."""


class SourceAuthError(SourceError):
    """The server asked for credentials and refused the ones given (or none were given)."""


class SourceNotFoundError(SourceError):
    """The repository, chart, tag or blob does not exist."""


class VersionNotFoundError(SourceError):
    """No chart version or tag matches what the app asked for."""


class DigestMismatchError(SourceError):
    """Downloaded bytes do not hash to the digest that named them."""


class ArchiveError(SourceError):
    """A chart or artifact archive is malformed, too big, or escapes its root."""


class UnsupportedArtifactError(SourceError):
    """An OCI artifact whose media types Tether does not render."""


class SourceFetchError(SourceError):
    """The server could not be reached, timed out, or failed (5xx)."""
