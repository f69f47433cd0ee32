"""Git access for Tether, in pure Python (dulwich): resolve, fetch, cache and read.

Entry points: ``GitCache`` (resolve/fetch with a shared bare cache per URL),
``Snapshot`` (URL + ref + commit, ``.revision`` = ``<ref>@sha1:<sha>``),
``GitTree`` (a commit as a ``tether.tree.FileTree``), ``GitAuth`` (credentials
from a Secret-like mapping), ``parse_url``/``normalize_url`` and the error
hierarchy in ``tether.git.errors``. The git CLI is never run.
"""

from tether.git.auth import GitAuth
from tether.git.cache import DEFAULT_TIMEOUT, GitCache, GitStats, Grant, Snapshot
from tether.git.errors import (
    AuthenticationError,
    GitError,
    GitTimeoutError,
    HostKeyError,
    InsecureURLError,
    InvalidRevisionError,
    NetworkUnreachableError,
    PushRejectedError,
    RefNotFoundError,
    RepositoryNotFoundError,
    StaleRefError,
)
from tether.git.revisions import RemoteRefs, resolve_revision
from tether.git.tree import GitTree
from tether.git.urls import FileURLPolicy, GitURL, normalize_url, parse_url, redact

__all__ = [
    "DEFAULT_TIMEOUT",
    "AuthenticationError",
    "FileURLPolicy",
    "GitAuth",
    "GitCache",
    "GitError",
    "GitStats",
    "GitTimeoutError",
    "GitTree",
    "GitURL",
    "Grant",
    "HostKeyError",
    "InsecureURLError",
    "InvalidRevisionError",
    "NetworkUnreachableError",
    "PushRejectedError",
    "RefNotFoundError",
    "RemoteRefs",
    "RepositoryNotFoundError",
    "Snapshot",
    "StaleRefError",
    "normalize_url",
    "parse_url",
    "redact",
    "resolve_revision",
]
