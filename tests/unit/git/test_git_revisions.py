"""Revision resolution against advertised refs, without a server."""

from __future__ import annotations

import pytest

from tether.git.errors import InvalidRevisionError, RefNotFoundError
from tether.git.revisions import RemoteRefs, resolve_revision

A, B, C, T, P = ("a" * 40, "b" * 40, "c" * 40, "d" * 40, "e" * 40)
_ADVERTISED = {
    "HEAD": A,
    "refs/heads/main": A,
    "refs/heads/v1.0.0": C,  # a branch named like a tag: the tag wins, as in git
    "refs/tags/v1.0.0": B,
    "refs/tags/v1.1.0": T,  # annotated: tag object T peels to C
    "refs/tags/v1.1.0^{}": C,
    "refs/tags/v1.2.0-rc.1": P,
    "refs/tags/not-a-version": A,
    "refs/pull/7/head": P,
}
REMOTE = RemoteRefs.from_advertised(
    {name.encode(): sha.encode() for name, sha in _ADVERTISED.items()},
    {b"HEAD": b"refs/heads/main"},
)


@pytest.mark.parametrize(
    ("revision", "ref", "want", "commit"),
    [
        ("", "refs/heads/main", A, A),
        ("HEAD", "refs/heads/main", A, A),
        ("main", "refs/heads/main", A, A),
        ("v1.0.0", "refs/tags/v1.0.0", B, B),
        ("v1.1.0", "refs/tags/v1.1.0", T, C),
        ("refs/heads/v1.0.0", "refs/heads/v1.0.0", C, C),
        ("refs/pull/7/head", "refs/pull/7/head", P, P),
        (">=1.0.0", "refs/tags/v1.1.0", T, C),
        ("~1.0", "refs/tags/v1.0.0", B, B),
        ("1.1.x", "refs/tags/v1.1.0", T, C),
        (B, "", B, B),
        ("bbbbbbb", "", B, B),
        ("ddddd", "", T, C),
    ],
)
def test_resolves(revision: str, ref: str, want: str, commit: str) -> None:
    resolved = resolve_revision(revision, REMOTE)
    assert (resolved.ref, resolved.want, resolved.commit) == (ref, want, commit)


def test_prerelease_needs_opt_in() -> None:
    assert resolve_revision(">=1.1.0", REMOTE).ref == "refs/tags/v1.1.0"
    assert resolve_revision(">=1.1.0", REMOTE, allow_prerelease=True).ref == "refs/tags/v1.2.0-rc.1"
    assert resolve_revision(">=1.2.0-rc.0", REMOTE).ref == "refs/tags/v1.2.0-rc.1"


def test_short_sha_uses_cached_objects_and_detects_ambiguity() -> None:
    cached = {"f" * 40}
    assert (
        resolve_revision(
            "ffff", REMOTE, cached_prefix=lambda p: {s for s in cached if s.startswith(p)}
        ).want
        == "f" * 40
    )
    ambiguous = {"abcd" + "0" * 36, "abcd" + "1" * 36}
    with pytest.raises(InvalidRevisionError, match="ambiguous"):
        resolve_revision(
            "abcd", REMOTE, cached_prefix=lambda p: {s for s in ambiguous if s.startswith(p)}
        )


@pytest.mark.parametrize(
    "revision", ["nope", "refs/heads/nope", "9.x", ">=5", "1234567", "feature/x"]
)
def test_not_found(revision: str) -> None:
    with pytest.raises(RefNotFoundError) as caught:
        resolve_revision(revision, REMOTE, url="https://h/r")
    assert revision in str(caught.value) and "https://h/r" in str(caught.value)


@pytest.mark.parametrize(
    "revision",
    ["a..b", "refs/heads/a..b", "x y", ">=1.0 <", "main@{1}", "bad\x00name", "topic.lock"],
)
def test_invalid(revision: str) -> None:
    with pytest.raises(InvalidRevisionError):
        resolve_revision(revision, REMOTE)


def test_empty_remote_has_no_head() -> None:
    with pytest.raises(RefNotFoundError, match="no HEAD"):
        resolve_revision("HEAD", RemoteRefs({}))
