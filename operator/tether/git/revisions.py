"""Resolve a revision string against a remote's advertised refs (pure logic).

Forms, tried in this order:

1. empty or ``HEAD``: the remote's default branch (its HEAD symref);
2. a full ref (``refs/heads/main``, ``refs/pull/7/head``): exactly that ref;
3. a full 40-hex commit SHA: that commit, with no ref;
4. a name: ``refs/tags/<name>`` then ``refs/heads/<name>`` (git's own order);
5. a semver range over tags (``>=1.2.0 <2.0.0``, ``1.2.*``, ``^1.2``, ``~1.2.3``);
6. a short SHA (4-39 hex digits) that matches exactly one advertised or cached object.

The result names the ref, the object to ask the server for (a tag object for
annotated tags) and, when the server advertised it peeled, the commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.git.errors import InvalidRevisionError, RefNotFoundError
from tether.git.semver import SemverError, parse_range, try_parse_version

_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_SHORT_SHA = re.compile(r"^[0-9a-f]{4,39}$")
_RANGE_START = re.compile(r"^(?:[<>=^~!]|\*$)|\|\||\s")
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^/|/$|\.lock$|\.$")
_WILDCARD_PART = re.compile(r"(?:^|\.)[xX*](?:$|\.)")
PEELED_SUFFIX = "^{}"


@dataclass(frozen=True)
class RemoteRefs:
    """What ``ls-remote`` returned: ref name -> object SHA, peeled tags, and HEAD's target."""

    refs: Mapping[str, str]
    peeled: Mapping[str, str] = field(default_factory=dict)
    head_target: str | None = None

    @classmethod
    def from_advertised(
        cls, advertised: Mapping[Any, bytes | None], symrefs: Mapping[Any, bytes]
    ) -> RemoteRefs:
        """Build from dulwich's ``LsRemoteResult`` (peeled entries carry a ``^{}`` suffix)."""
        refs: dict[str, str] = {}
        peeled: dict[str, str] = {}
        for raw_name, raw_sha in advertised.items():
            if raw_sha is None:
                continue
            name, sha = raw_name.decode("utf-8", "replace"), raw_sha.decode("ascii")
            if name.endswith(PEELED_SUFFIX):
                peeled[name.removesuffix(PEELED_SUFFIX)] = sha
            else:
                refs[name] = sha
        head = symrefs.get(b"HEAD")
        return cls(refs, peeled, head.decode() if head else None)

    def commit_of(self, ref: str) -> str:
        """The commit a ref points at, peeling annotated tags when the server told us."""
        return self.peeled.get(ref, self.refs[ref])


@dataclass(frozen=True)
class Resolved:
    """A resolved revision: ``ref`` ('' for a bare commit), the SHA to want, the commit if known."""

    ref: str
    want: str
    commit: str | None


PrefixLookup = Callable[[str], set[str]]


def resolve_revision(
    revision: str,
    remote: RemoteRefs,
    *,
    cached_prefix: PrefixLookup | None = None,
    allow_prerelease: bool = False,
    url: str = "",
) -> Resolved:
    """Resolve ``revision`` against ``remote``; raise RefNotFound/InvalidRevision otherwise."""
    rev = revision.strip() or "HEAD"
    if rev == "HEAD":
        return _resolve_head(remote, url)
    if rev.startswith("refs/"):
        return _resolve_full_ref(rev, remote, url)
    if _FULL_SHA.match(rev):
        return Resolved("", rev, rev)
    for candidate in (f"refs/tags/{rev}", f"refs/heads/{rev}"):
        if candidate in remote.refs:
            return _ref(candidate, remote)
    if _looks_like_range(rev):
        found = _resolve_range(rev, remote, allow_prerelease, url)
        if found is not None:
            return found
        if not _SHORT_SHA.match(rev):
            raise RefNotFoundError("no tag matches the version range", url=url, ref=rev)
    if _SHORT_SHA.match(rev.lower()):
        return _resolve_short_sha(rev.lower(), remote, cached_prefix, url)
    if _BAD_REF.search(rev):
        raise InvalidRevisionError(
            "not a valid branch, tag, commit or version range", url=url, ref=rev
        )
    raise RefNotFoundError("no branch or tag with this name", url=url, ref=rev)


def _looks_like_range(rev: str) -> bool:
    """Operators, wildcards or a bare version: ``>=1.2``, ``1.2.*``, ``1.x``, ``v1.2.3``."""
    if _RANGE_START.search(rev) or _WILDCARD_PART.search(rev):
        return True
    return try_parse_version(rev) is not None


def _ref(name: str, remote: RemoteRefs) -> Resolved:
    # Git servers advertise a peeled entry for every annotated tag, so a tag
    # without one is lightweight; the cache re-peels locally after a fetch anyway.
    return Resolved(name, remote.refs[name], remote.commit_of(name))


def _resolve_head(remote: RemoteRefs, url: str) -> Resolved:
    target = remote.head_target
    if target and target in remote.refs:
        return _ref(target, remote)
    if "HEAD" in remote.refs:
        return Resolved("HEAD", remote.refs["HEAD"], remote.refs["HEAD"])
    raise RefNotFoundError("the repository has no HEAD (is it empty?)", url=url, ref="HEAD")


def _resolve_full_ref(rev: str, remote: RemoteRefs, url: str) -> Resolved:
    if _BAD_REF.search(rev.removeprefix("refs/")):
        raise InvalidRevisionError("not a valid ref name", url=url, ref=rev)
    if rev not in remote.refs:
        raise RefNotFoundError("the remote does not advertise this ref", url=url, ref=rev)
    return _ref(rev, remote)


def _resolve_range(
    rev: str, remote: RemoteRefs, allow_prerelease: bool, url: str
) -> Resolved | None:
    try:
        wanted = parse_range(rev)
    except SemverError as exc:
        raise InvalidRevisionError(f"bad version range: {exc}", url=url, ref=rev) from exc
    tags = []
    for name in remote.refs:
        if name.startswith("refs/tags/"):
            version = try_parse_version(name.removeprefix("refs/tags/"))
            if version is not None:
                tags.append((name, version))
    best = wanted.best(tags, allow_prerelease=allow_prerelease)
    return _ref(best[0], remote) if best else None


def _resolve_short_sha(
    prefix: str, remote: RemoteRefs, cached_prefix: PrefixLookup | None, url: str
) -> Resolved:
    matches = {
        sha for sha in (*remote.refs.values(), *remote.peeled.values()) if sha.startswith(prefix)
    }
    if cached_prefix is not None:
        matches |= cached_prefix(prefix)
    if len(matches) > 1:
        raise InvalidRevisionError(
            f"short SHA is ambiguous ({len(matches)} objects match)", url=url, ref=prefix
        )
    if not matches:
        raise RefNotFoundError(
            "no ref, tag or cached commit matches this short SHA", url=url, ref=prefix
        )
    sha = matches.pop()
    return Resolved("", sha, _peel_hint(sha, remote))


def _peel_hint(sha: str, remote: RemoteRefs) -> str | None:
    """A short SHA that names an annotated tag object resolves to its commit when known."""
    for name, target in remote.refs.items():
        if target == sha and name in remote.peeled:
            return remote.peeled[name]
    return sha
