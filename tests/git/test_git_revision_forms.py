"""Every revision form, resolved and fetched against a real git daemon."""

from __future__ import annotations

from pathlib import Path

import pytest
from git_servers import SampleRepo

from tether.git import GitCache, InvalidRevisionError, RefNotFoundError


@pytest.fixture
def url(git_daemon: int, git_base: Path, sample_repo: SampleRepo) -> str:
    return f"git://127.0.0.1:{git_daemon}/{sample_repo.bare.relative_to(git_base)}"


@pytest.mark.parametrize(
    ("revision", "ref", "commit_key"),
    [
        ("", "refs/heads/main", "main"),
        ("HEAD", "refs/heads/main", "main"),
        ("main", "refs/heads/main", "main"),
        ("dev", "refs/heads/dev", "dev"),
        ("v1.0.0", "refs/tags/v1.0.0", "c1"),
        ("v1.2.0", "refs/tags/v1.2.0", "c2"),
        ("refs/tags/v1.2.0", "refs/tags/v1.2.0", "c2"),
        ("refs/heads/dev", "refs/heads/dev", "dev"),
        ("refs/pull/7/head", "refs/pull/7/head", "pr7"),
        (">=1.2.0 <2.0.0", "refs/tags/v1.2.5", "c3"),
        ("1.2.*", "refs/tags/v1.2.5", "c3"),
        ("^1.2", "refs/tags/v1.2.5", "c3"),
        ("~1.2.0", "refs/tags/v1.2.5", "c3"),
        ("~1.0", "refs/tags/v1.0.0", "c1"),
        (">=1.0.0", "refs/tags/2.0.0", "c5"),
        ("*", "refs/tags/2.0.0", "c5"),
        (">=1.3.0-rc.0 <1.4.0", "refs/tags/v1.3.0-rc.1", "c3"),
        ("1.2.0", "refs/tags/v1.2.0", "c2"),
    ],
)
async def test_revision_forms(
    revision: str, ref: str, commit_key: str, url: str, sample_repo: SampleRepo, cache: GitCache
) -> None:
    snap = await cache.fetch(url, revision, insecure=True)
    assert (snap.ref, snap.commit) == (ref, sample_repo.shas[commit_key])
    assert snap.revision == f"{ref}@sha1:{sample_repo.shas[commit_key]}"
    with cache.tree(snap) as tree:
        assert tree.kind("manifests/a.yaml") == "file"


@pytest.mark.parametrize(
    ("revision", "key"), [("v1.2.0", "c2"), ("v1.0.0", "c1"), ("dev", "dev"), ("^1.0", "c3")]
)
async def test_resolve_without_fetch(
    revision: str, key: str, url: str, sample_repo: SampleRepo, cache: GitCache
) -> None:
    resolved = await cache.resolve(url, revision, insecure=True)
    assert resolved.commit == sample_repo.shas[key]
    assert cache.stats.fetches == 0
    assert not cache.repo_path(url).exists()


async def test_prerelease_only_when_allowed(
    url: str, sample_repo: SampleRepo, cache: GitCache
) -> None:
    plain = await cache.fetch(url, ">=2.0.0", insecure=True)
    assert plain.ref == "refs/tags/2.0.0"
    allowed = await cache.fetch(url, ">=2.0.0", insecure=True, allow_prerelease=True)
    assert allowed.ref == "refs/tags/v2.1.0-beta.1"


@pytest.mark.parametrize("key", ["c4", "c2", "dev"])
async def test_full_sha(key: str, url: str, sample_repo: SampleRepo, cache: GitCache) -> None:
    """c4 is no ref's tip: the server must still hand it over."""
    sha = sample_repo.shas[key]
    snap = await cache.fetch(url, sha, insecure=True)
    assert (snap.ref, snap.commit, snap.revision) == ("", sha, f"sha1:{sha}")
    # Within the proof's max_age a cached commit costs no network at all.
    again = await cache.fetch(url, sha, insecure=True, max_age=60)
    assert again == snap
    assert cache.stats.fetches == 1
    assert cache.stats.ls_remotes == 1


async def test_short_sha_of_advertised_commit(
    url: str, sample_repo: SampleRepo, cache: GitCache
) -> None:
    sha = sample_repo.shas["dev"]
    snap = await cache.fetch(url, sha[:8], insecure=True)
    assert snap.commit == sha


async def test_short_sha_found_in_cache_only(
    url: str, sample_repo: SampleRepo, cache: GitCache
) -> None:
    sha = sample_repo.shas["c4"]
    with pytest.raises(RefNotFoundError):
        await cache.fetch(url, sha[:10], insecure=True)
    await cache.fetch(url, sha, insecure=True)
    snap = await cache.fetch(url, sha[:10], insecure=True)
    assert snap.commit == sha


@pytest.mark.parametrize(
    "revision", ["9.x", ">=3.0.0", "no-such-tag", "refs/heads/nope", "deadbeef1"]
)
async def test_not_found(revision: str, url: str, cache: GitCache) -> None:
    with pytest.raises(RefNotFoundError) as caught:
        await cache.fetch(url, revision, insecure=True)
    assert revision in str(caught.value)


@pytest.mark.parametrize("revision", ["main..dev", ">=1.2.0 <<2", "a b", "refs/heads/a..b"])
async def test_invalid(revision: str, url: str, cache: GitCache) -> None:
    with pytest.raises(InvalidRevisionError):
        await cache.fetch(url, revision, insecure=True)


async def test_unknown_full_sha(url: str, cache: GitCache) -> None:
    with pytest.raises(RefNotFoundError):
        await cache.fetch(url, "0123456789abcdef0123456789abcdef01234567", insecure=True)
