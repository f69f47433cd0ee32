"""The cache: no pack when nothing moved, incremental fetches, shared concurrent fetches, failures."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_servers import HttpGitServer, Remote, SampleRepo, push_commit

from tether.git import (
    FileURLPolicy,
    GitCache,
    GitTimeoutError,
    InsecureURLError,
    NetworkUnreachableError,
)


async def test_unchanged_ref_transfers_no_pack(
    http_remote: Remote, http_server: HttpGitServer, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    bare, _ = fresh_repo
    url = http_remote.url(bare)
    first = await cache.fetch(url, "main", http_remote.auth, insecure=True)
    negotiations = http_server.pack_negotiations()
    assert negotiations >= 1
    again = await cache.fetch(url, "main", http_remote.auth, insecure=True)
    assert again == first
    assert http_server.pack_negotiations() == negotiations, (
        "an unchanged ref must not ask for a pack"
    )
    assert (cache.stats.fetches, cache.stats.ls_remotes, cache.stats.cache_hits) == (1, 2, 1)


async def test_cache_survives_a_new_cache_object(
    http_remote: Remote, http_server: HttpGitServer, fresh_repo: tuple[Path, Path], tmp_path: Path
) -> None:
    bare, _ = fresh_repo
    url = http_remote.url(bare)
    await GitCache(tmp_path / "c").fetch(url, auth=http_remote.auth, insecure=True)
    negotiations = http_server.pack_negotiations()
    second = GitCache(tmp_path / "c")
    await second.fetch(url.removesuffix(".git") + "/", auth=http_remote.auth, insecure=True)
    assert second.stats.fetches == 0
    assert http_server.pack_negotiations() == negotiations


async def test_new_commit_is_fetched_incrementally(
    remote: Remote, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    bare, work = fresh_repo
    url = remote.url(bare)
    first = await cache.fetch(url, "main", remote.auth, insecure=remote.insecure)
    first_bytes = cache.stats.pack_bytes
    sha = push_commit(work, {"new.yaml": "kind: New\n"})
    second = await cache.fetch(url, "main", remote.auth, insecure=remote.insecure)
    assert second.commit == sha != first.commit
    assert cache.stats.fetches == 2
    assert 0 < cache.stats.pack_bytes - first_bytes < first_bytes
    with cache.tree(second) as tree:
        assert tree.read("new.yaml") == b"kind: New\n"
        assert tree.read("file3.yaml") == b"n: 3\n"
    with cache.tree(first) as old:
        assert old.kind("new.yaml") is None


async def test_a_pooled_repository_reads_a_commit_fetched_after_it_was_opened(
    remote: Remote, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    bare, work = fresh_repo
    url = remote.url(bare)
    first = await cache.fetch(url, "main", remote.auth, insecure=remote.insecure)
    path = str(cache.repo_path(url))
    with cache.tree(first) as tree:  # opens the repository, maps the first pack
        assert tree.read("file3.yaml") == b"n: 3\n"
    assert cache.repos.idle(path) == 1  # kept open, not closed
    sha = push_commit(work, {"new.yaml": "kind: New\n"})
    second = await cache.fetch(url, "main", remote.auth, insecure=remote.insecure)
    assert second.commit == sha
    with cache.tree(second) as tree:
        assert cache.repos.idle(path) == 0  # the same repository, lent again
        assert tree.read("new.yaml") == b"kind: New\n"  # in a pack it had not seen
    assert cache.repos.idle(path) == 1


async def test_concurrent_fetches_share_one(
    http_remote: Remote, http_server: HttpGitServer, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    bare, _ = fresh_repo
    url = http_remote.url(bare)
    negotiations = http_server.pack_negotiations()
    snaps = await asyncio.gather(
        *(cache.fetch(url, "main", http_remote.auth, insecure=True) for _ in range(8))
    )
    assert len(set(snaps)) == 1
    assert cache.stats.fetches == 1
    assert cache.stats.ls_remotes == 1
    assert http_server.pack_negotiations() - negotiations == 1


async def test_concurrent_different_revisions_of_one_repo(
    remote: Remote, sample_repo: SampleRepo, cache: GitCache
) -> None:
    url = remote.url(sample_repo.bare)
    revisions = ["main", "dev", "v1.0.0", "v1.2.0", "refs/pull/7/head", "main", "dev"]
    snaps = await asyncio.gather(
        *(cache.fetch(url, rev, remote.auth, insecure=remote.insecure) for rev in revisions)
    )
    expected = ["main", "dev", "c1", "c2", "pr7", "main", "dev"]
    assert [s.commit for s in snaps] == [sample_repo.shas[k] for k in expected]
    assert cache.stats.fetches <= 5
    for snap in snaps:
        with cache.tree(snap) as tree:
            assert tree.read("README.md") == b"hello\n"


async def test_different_repos_fetch_in_parallel(
    http_remote: Remote, sample_repo: SampleRepo, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    bare, _ = fresh_repo
    a, b = await asyncio.gather(
        cache.fetch(http_remote.url(sample_repo.bare), auth=http_remote.auth, insecure=True),
        cache.fetch(http_remote.url(bare), auth=http_remote.auth, insecure=True),
    )
    assert a.url != b.url
    assert cache.repo_path(a.url) != cache.repo_path(b.url)
    assert cache.stats.fetches == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("scheme", ["git", "http", "ssh"])
async def test_server_down_is_unreachable_quickly(scheme: str, cache: GitCache) -> None:
    port = _closed_port()
    url = {
        "git": f"git://127.0.0.1:{port}/repo.git",
        "http": f"http://127.0.0.1:{port}/repo.git",
        "ssh": f"ssh://git@127.0.0.1:{port}/repo.git",
    }[scheme]
    auth = {"known_hosts": ""} if scheme == "ssh" else None
    started = time.monotonic()
    with pytest.raises(NetworkUnreachableError) as caught:
        await cache.fetch(url, auth=auth, insecure=True, timeout=10)
    assert time.monotonic() - started < 8
    assert str(port) in str(caught.value)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.mark.parametrize("scheme", ["git", "http", "ssh"])
async def test_silent_server_times_out(scheme: str, silent_server: int, cache: GitCache) -> None:
    url = f"{scheme}://git@127.0.0.1:{silent_server}/repo.git".replace("http://git@", "http://")
    auth = {"known_hosts": ""} if scheme == "ssh" else None
    started = time.monotonic()
    with pytest.raises(GitTimeoutError):
        await cache.fetch(url, auth=auth, insecure=True, timeout=1.5)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/x.git", "git://127.0.0.1/x.git", "file:///tmp/x.git"]
)
async def test_insecure_urls_need_the_flag(url: str, cache: GitCache) -> None:
    with pytest.raises(InsecureURLError, match="insecure"):
        await cache.fetch(url)


async def test_file_url_with_insecure_in_an_allowed_folder(
    sample_repo: SampleRepo, tmp_path: Path
) -> None:
    cache = GitCache(tmp_path / "c", file_urls=FileURLPolicy((sample_repo.bare.parent,)))
    snap = await cache.fetch(f"file://{sample_repo.bare}", "dev", insecure=True)
    assert snap.commit == sample_repo.shas["dev"]


def test_default_root_is_under_tether_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TETHER_CACHE", str(tmp_path))
    cache = GitCache()
    assert cache.root == tmp_path / "git"
    assert cache.repo_path("https://h.example/org/repo.git").parent == tmp_path / "git"
    assert cache.repo_path("git@h.example:org/repo") == cache.repo_path(
        "ssh://h.example/org/repo.git"
    )
    assert cache.repo_path("ssh://h.example/org/repo") != cache.repo_path(
        "https://h.example/org/repo"
    )
