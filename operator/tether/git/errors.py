"""Typed errors raised by Tether's Git access layer.

Hierarchy (every error a caller may see from ``tether.git``)::

    GitError                      base class; message names the URL and ref
    +-- InsecureURLError          http://, git:// or file:// without insecure=True,
    |                             a file:// path outside the allowed folders or
    |                             inside the cache, or a URL that cannot be parsed
    +-- InvalidRevisionError      a revision string that is malformed or ambiguous
    +-- AuthenticationError       credentials refused, or unusable key material
    +-- HostKeyError              SSH host key unknown or changed (``reason`` says which)
    +-- RepositoryNotFoundError   the server has no such repository
    +-- RefNotFoundError          the repository has no such ref, tag, commit or version
    +-- GitTimeoutError           a network operation ran past its timeout
    +-- NetworkUnreachableError   the server could not be reached at all
    +-- PushRejectedError         the server refused a push (permission, hook, policy);
    |                             ``server_says`` keeps its own words, credentials stripped
    +-- StaleRefError             a push found the ref elsewhere than expected (it moved
                                  since the fetch, or a lease did not hold)

Messages carry the URL with credentials stripped and never contain secret
material. Mapping from dulwich and ssh failures to these types lives in
``tether.git.transport``; this module only defines them.
"""

from __future__ import annotations

from collections.abc import Mapping

from tether.errors import TetherError
from tether.messages import FIELD_HINTS, Hint


class GitError(TetherError):
    """Base class for every Git access failure.

    ``url`` is the redacted URL; ``ref`` the revision being resolved, if any;
    ``hint`` the fix, worded by whoever shows the error (``phrase``). ``str()``
    words it as the API does (``tether.messages.FIELD_HINTS``).
    """

    def __init__(
        self, message: str, *, url: str = "", ref: str = "", hint: Hint | None = None
    ) -> None:
        self.detail = message
        self.message = message
        self.url = url
        self.ref = ref
        self.hint = hint
        super().__init__(self.phrase(FIELD_HINTS))

    def phrase(self, hints: Mapping[Hint, str]) -> str:
        """The one-line message, with the hint worded from ``hints``."""
        text = self.detail if self.hint is None else f"{self.detail}; {hints[self.hint]}"
        context = ", ".join(
            f"{key}={value}" for key, value in (("url", self.url), ("ref", self.ref)) if value
        )
        return f"{text} ({context})" if context else text


class InsecureURLError(GitError):
    """The URL uses a plain-text or local transport without ``insecure``, or is malformed."""


class InvalidRevisionError(GitError):
    """The revision string cannot be understood, or matches more than one object."""


class AuthenticationError(GitError):
    """The server refused the credentials, or the key material is unusable."""


class HostKeyError(GitError):
    """The SSH host key is not in known_hosts (``reason='unknown'``) or differs (``'changed'``)."""

    def __init__(self, message: str, *, reason: str, url: str = "", ref: str = "") -> None:
        super().__init__(message, url=url, ref=ref)
        self.reason = reason


class RepositoryNotFoundError(GitError):
    """The server answered, but has no repository at that path (or hides it)."""


class RefNotFoundError(GitError):
    """No branch, tag, commit or matching version for the requested revision."""


class GitTimeoutError(GitError):
    """A network operation did not complete within its timeout."""


class NetworkUnreachableError(GitError):
    """The server could not be reached: refused, unresolvable or unroutable."""


class PushRejectedError(GitError):
    """The server refused a push: no write access, a hook, a protected branch.

    ``server_says`` is what the server answered (status line, hook output), with
    credentials stripped; the message quotes it.
    """

    def __init__(self, message: str, *, server_says: str, url: str = "", ref: str = "") -> None:
        super().__init__(message, url=url, ref=ref)
        self.server_says = server_says


class StaleRefError(GitError):
    """The remote ref was not at the value the push expected; ``actual`` is where it was."""

    def __init__(self, message: str, *, actual: str | None, url: str = "", ref: str = "") -> None:
        super().__init__(message, url=url, ref=ref)
        self.actual = actual
