"""The shared cache is not a back door: who may read a cached commit, and where the cache is.

The probe's reproduction first: a caller with the right credentials warms the
cache; a caller with none, or the wrong ones, asks for the same full SHA and is
refused by the server, which saw the attempt. Then the cost side: the authorized
caller pays nothing within its interval and one ls-remote after it. Then the
cache's own files: unpredictable paths, private modes, and ``file://`` refused.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_servers import HttpGitServer, Remote, SampleRepo, commit_files, git, ssh_remote_for

from tether.git import (
    AuthenticationError,
    FileURLPolicy,
    GitAuth,
    GitCache,
    HostKeyError,
    InsecureURLError,
)


class Clock:
    """A monotonic clock the test moves by hand, so intervals need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def private_server(git_base: Path) -> Iterator[HttpGitServer]:
    """Team-b's server: its own credentials, and a request log no other test touches."""
    server = HttpGitServer(git_base, username="team-b", password="b-only-pass", token="b-token")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shared(tmp_path: Path, clock: Clock) -> GitCache:
    return GitCache(tmp_path / "cache", timeout=20, clock=clock)


TEAM_B = {"username": "team-b", "password": "b-only-pass"}


def ls_remotes_seen(server: HttpGitServer) -> int:
    return sum(1 for _m, path, _q in server.requests if path.endswith("/info/refs"))


@pytest.mark.parametrize(
    "stranger",
    [{}, {"username": "team-b", "password": "guess"}, {"bearerToken": "tok-guess"}],
    ids=["anonymous", "wrong-password", "wrong-token"],
)
async def test_a_cached_sha_is_not_served_to_a_stranger(
    stranger: dict[str, str],
    private_server: HttpGitServer,
    sample_repo: SampleRepo,
    shared: GitCache,
) -> None:
    url = f"{private_server.url}/sample.git"
    warm = await shared.fetch(url, "main", TEAM_B, insecure=True, max_age=3600)
    assert private_server.refused == [], "the owner's requests carry its credentials"
    with pytest.raises(AuthenticationError, match="authentication failed") as caught:
        await shared.fetch(url, warm.commit, stranger, insecure=True, max_age=3600)
    assert private_server.refused, "the server saw the stranger's attempt and refused it"
    assert private_server.pack_negotiations() == 1, "the stranger got no pack either"
    for secret in stranger.values():
        assert secret not in str(caught.value)


async def test_the_owner_pays_nothing_within_its_interval_and_one_ls_remote_after(
    private_server: HttpGitServer, sample_repo: SampleRepo, shared: GitCache, clock: Clock
) -> None:
    url = f"{private_server.url}/sample.git"
    sha = sample_repo.shas["c2"]
    await shared.fetch(url, sha, TEAM_B, insecure=True, max_age=60)
    seen, packs = len(private_server.requests), private_server.pack_negotiations()

    clock.now += 59
    again = await shared.fetch(url, sha, TEAM_B, insecure=True, max_age=60)
    assert again.commit == sha
    assert len(private_server.requests) == seen, "no request within the interval"

    clock.now += 2
    infos = ls_remotes_seen(private_server)
    await shared.fetch(url, sha, TEAM_B, insecure=True, max_age=60)
    assert ls_remotes_seen(private_server) == infos + 1, "one ls-remote re-proves access"
    assert private_server.pack_negotiations() == packs, "and no pack is asked for"
    assert shared.stats.proofs == 1


async def test_a_refused_login_revokes_the_proof_at_once(
    private_server: HttpGitServer, sample_repo: SampleRepo, shared: GitCache, clock: Clock
) -> None:
    url = f"{private_server.url}/sample.git"
    sha = sample_repo.shas["c1"]
    await shared.fetch(url, sha, TEAM_B, insecure=True, max_age=60)
    private_server.password = "rotated"
    clock.now += 61
    with pytest.raises(AuthenticationError):
        await shared.fetch(url, sha, TEAM_B, insecure=True, max_age=60)
    # Within what would have been the old proof's interval: still refused, asked again.
    infos = ls_remotes_seen(private_server)
    with pytest.raises(AuthenticationError):
        await shared.fetch(url, sha, TEAM_B, insecure=True, max_age=3600)
    assert ls_remotes_seen(private_server) == infos + 1
    assert not shared.proven(shared.grant(url, TEAM_B), 3600)


async def test_a_stranger_over_ssh_is_refused_a_cached_sha(
    sshd: object, sample_repo: SampleRepo, shared: GitCache
) -> None:
    remote: Remote = ssh_remote_for(sshd)  # type: ignore[arg-type]
    url = remote.url(sample_repo.bare)
    warm = await shared.fetch(url, "main", remote.auth, max_age=3600)
    with pytest.raises(AuthenticationError):
        await shared.fetch(url, warm.commit, remote.bad_auth, max_age=3600)
    with pytest.raises(HostKeyError):
        await shared.fetch(url, warm.commit, None, max_age=3600)


async def test_identity_is_keyed_and_tells_credentials_apart(tmp_path: Path) -> None:
    one, two = GitCache(tmp_path / "one"), GitCache(tmp_path / "two")
    url = "https://git.example/org/repo.git"
    alice = {"username": "alice", "password": "pw"}
    assert one.grant(url, alice) == one.grant(url.removesuffix(".git"), alice)
    assert one.grant(url, alice) != one.grant(url, {"username": "alice", "password": "px"})
    assert one.grant(url, None) != one.grant("https://alice:pw@git.example/org/repo", None)
    assert one.grant(url, alice).identity != two.grant(url, alice).identity, "salted"
    assert "pw" not in repr(one.grant(url, alice))


def test_cache_paths_differ_between_installations_and_are_private(tmp_path: Path) -> None:
    url = "https://git.example/team-b/private.git"
    first, second = GitCache(tmp_path / "a"), GitCache(tmp_path / "b")
    assert first.repo_path(url).name != second.repo_path(url).name
    assert first.repo_path(url) == GitCache(tmp_path / "a").repo_path(url), "stable per root"
    assert stat.S_IMODE(first.root.stat().st_mode) == 0o700
    assert stat.S_IMODE((first.root / ".salt").stat().st_mode) == 0o600


def test_an_existing_open_root_is_closed(tmp_path: Path) -> None:
    root = tmp_path / "open"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    GitCache(root).repo_path("https://git.example/x")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


# -- file:// ---------------------------------------------------------------------------


@pytest.fixture
def warm_cache(sample_repo: SampleRepo, tmp_path: Path) -> tuple[GitCache, Path]:
    """A CLI-style cache (any folder allowed) holding the sample repository."""
    import asyncio

    cache = GitCache(tmp_path / "cache", file_urls=FileURLPolicy.any_folder())
    url = f"file://{sample_repo.bare}"
    asyncio.run(cache.fetch(url, "main", insecure=True))
    return cache, cache.repo_path(url)


def test_file_url_into_the_cache_is_refused_even_where_any_folder_is_allowed(
    warm_cache: tuple[GitCache, Path], tmp_path: Path
) -> None:
    import asyncio

    cache, cached = warm_cache
    link = tmp_path / "innocent"
    link.symlink_to(cache.root)
    for url in (
        f"file://{cached}",
        f"file://{cache.root}",
        f"file://{link}/{cached.name}",
        f"file://{cached}/objects/../",
    ):
        with pytest.raises(InsecureURLError, match="Git cache"):
            asyncio.run(cache.fetch(url, "main", insecure=True))


def test_a_local_repo_borrowing_the_cache_objects_is_refused(
    warm_cache: tuple[GitCache, Path], tmp_path: Path
) -> None:
    import asyncio

    cache, cached = warm_cache
    borrower = tmp_path / "borrower.git"
    git("init", "-q", "--bare", str(borrower))
    (borrower / "objects" / "info" / "alternates").write_text(f"{cached / 'objects'}\n")
    pointer = tmp_path / "pointer"
    pointer.mkdir()
    (pointer / ".git").write_text(f"gitdir: {cached}\n")
    for place in (borrower, pointer):
        with pytest.raises(InsecureURLError, match="Git cache"):
            asyncio.run(cache.fetch(f"file://{place}", "main", insecure=True))


async def test_operator_policy_allows_only_named_folders(
    sample_repo: SampleRepo, tmp_path: Path
) -> None:
    url = f"file://{sample_repo.bare}"
    closed = GitCache(tmp_path / "c1")
    with pytest.raises(InsecureURLError, match="allow-file-urls"):
        await closed.fetch(url, "main", insecure=True)
    elsewhere = GitCache(tmp_path / "c2", file_urls=FileURLPolicy((tmp_path,)))
    with pytest.raises(InsecureURLError, match="only under"):
        await elsewhere.fetch(url, "main", insecure=True)
    allowed = GitCache(tmp_path / "c3", file_urls=FileURLPolicy((sample_repo.bare.parent,)))
    snap = await allowed.fetch(url, "main", insecure=True)
    assert snap.commit == sample_repo.shas["main"]


# -- Secret keys ------------------------------------------------------------------------


def test_a_secret_with_no_key_tether_reads_names_found_and_expected_keys() -> None:
    with pytest.raises(AuthenticationError) as caught:
        GitAuth.from_mapping({"user": "alice", "pass": "hunter2-value"})
    text = str(caught.value)
    assert "found: pass, user" in text
    assert "username and password" in text
    assert "hunter2-value" not in text and "alice" not in text


async def test_a_refused_login_names_keys_the_secret_misspelled(
    private_server: HttpGitServer, sample_repo: SampleRepo, shared: GitCache, tmp_path: Path
) -> None:
    url = f"{private_server.url}/sample.git"
    with pytest.raises(AuthenticationError) as caught:
        await shared.fetch(
            url, "main", {"username": "team-b", "pass": "b-only-pass"}, insecure=True
        )
    text = str(caught.value)
    assert "does not read: pass" in text
    assert "b-only-pass" not in text


async def test_a_new_commit_in_a_private_repo_needs_the_credentials(
    private_server: HttpGitServer, git_base: Path, tmp_path: Path, shared: GitCache
) -> None:
    """A SHA the cache does not hold goes through ls-remote + fetch, both authenticated."""
    work = tmp_path / "w"
    git("init", "-q", "-b", "main", str(work))
    sha = commit_files(work, {"secret.yaml": "kind: Secret\n"}, "one")
    git("clone", "-q", "--bare", str(work), str(git_base / "team-b-new.git"))
    url = f"{private_server.url}/team-b-new.git"
    with pytest.raises(AuthenticationError):
        await shared.fetch(url, sha, None, insecure=True, max_age=3600)
    assert (await shared.fetch(url, sha, TEAM_B, insecure=True)).commit == sha
