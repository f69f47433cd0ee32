"""Which Repositories a verified push concerns (pure).

A Repository matches a ``Push`` when its URL and one of the URLs the provider named
are the same repository, and a revision its apps follow could have moved:

- URLs compare by host and path as ``tether.git.urls`` parses them, so
  ``git@host:org/repo.git``, ``ssh://git@host:2222/org/repo`` and
  ``https://host/org/repo`` are one repository (``url_key``). OCI URLs
  (``oci://host/repo``) compare by host and repository path.
- A branch push moves ``main``, ``refs/heads/main`` and ``HEAD`` (the default branch,
  which a webhook does not name). A tag push moves the tag by name or full ref, and
  any semver range the tag's version satisfies (pre-releases included: the fetch
  decides, a refresh too many costs one ``ls-remote``). A pinned commit or digest
  never moves.

Matching errs towards refreshing: a refresh is only a fetch that finds nothing new.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from tether.git.errors import GitError
from tether.git.semver import SemverError, parse_range, try_parse_version
from tether.git.urls import normalize_url, parse_url
from tether.webhook.providers import Push, PushedRef, RefKind

_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


def url_key(url: str) -> str | None:
    """What two spellings of one repository share; None for a URL that does not parse.

    The scheme, user and port go (ssh and https of one host reach one repository, often
    on different ports), and the case of the path with them (hosting services ignore it).
    """
    text = url.strip()
    if text.lower().startswith("oci://"):
        parts = urlsplit(text)
        path = parts.path.strip("/").lower()
        return f"oci://{(parts.hostname or '').lower()}/{path}" if parts.hostname and path else None
    try:
        parsed = parse_url(text, insecure=True)
    except GitError:
        return None
    if parsed.scheme == "file":
        return normalize_url(parsed)
    path = re.sub(r"/+", "/", "/" + parsed.path).rstrip("/").removesuffix(".git")
    return f"{parsed.host.lower()}{path.lower()}"


def revision_moves(revision: str, ref: PushedRef) -> bool:
    """Whether an app following ``revision`` may see a new commit or artifact after ``ref``."""
    rev = revision.strip()
    if ref.kind is RefKind.DIGEST:
        return False  # the tag of the same push is what moves; a digest is a pin
    if rev in ("", "HEAD"):
        return ref.kind in (RefKind.BRANCH, RefKind.NAME)
    if _FULL_SHA.match(rev) or rev.startswith("sha256:") or "@sha256:" in rev:
        return False
    if ref.kind is RefKind.NAME:
        return rev in (ref.name, f"refs/heads/{ref.name}", f"refs/tags/{ref.name}")
    if rev in (ref.name, ref.full):
        return True
    return ref.kind is RefKind.TAG and _range_admits(rev, ref.name)


def _range_admits(revision: str, tag: str) -> bool:
    version = try_parse_version(tag)
    if version is None:
        return False
    try:
        wanted = parse_range(revision)
    except SemverError:
        return False
    return wanted.matches(version, allow_prerelease=True)


def same_repository(repo_url: str, push: Push) -> bool:
    """Whether ``repo_url`` names one of the repositories ``push`` names."""
    mine = url_key(repo_url)
    return mine is not None and any(url_key(u) == mine for u in push.urls)


def followed(repo_url: str, key: str) -> tuple[tuple[str, str], ...]:
    """The (URL, revision) pairs a Repository's followed ``key`` may move with.

    A chart key (``web@^1.2``, as helm and oci Repositories follow) also names the chart's
    own repository, ``<url>/web``: that is what a registry notification names.
    """
    pairs = [(repo_url, key)]
    chart, sep, revision = key.partition("@")
    if sep and chart and "/" not in chart:
        pairs.append((f"{repo_url.rstrip('/')}/{chart}", revision))
    return tuple(pairs)


def url_keys(repo_url: str, revisions: Iterable[str]) -> set[str]:
    """Every ``url_key`` a push may name to reach this Repository (charts included)."""
    keys = (url_key(u) for rev in revisions for u, _ in followed(repo_url, rev))
    return {k for k in (url_key(repo_url), *keys) if k is not None}


def repository_matches(repo_url: str, revisions: Iterable[str], push: Push) -> bool:
    """Whether a Repository at ``repo_url`` whose apps follow ``revisions`` should refresh.

    A Repository no app follows resolves ``HEAD`` (as its controller does).
    """
    wanted = list(revisions) or ["HEAD"]
    return any(
        same_repository(url, push) and any(revision_moves(rev, ref) for ref in push.refs)
        for key in wanted
        for url, rev in followed(repo_url, key)
    )
