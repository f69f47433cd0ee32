"""A stopped or dead git server: the cache names the cause, in time, and keeps what it has.

SIGSTOP leaves the listening socket open: the kernel accepts connections into the
backlog and nobody answers, so a fetch waits for its timeout. SIGKILL closes the
socket, which resets the connections still in the backlog and refuses new ones.
These tests signal the daemon process itself (``start_git_daemon`` no longer goes
through the ``git`` wrapper, which swallowed both signals and left the real server
answering: the e2e fault test then waited in vain for a failure). A hung server
holds one thread per fetch until the timeout; those threads are the cache's own, so
renders and local reads on asyncio's default pool, and other servers, go on.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_servers import (
    Remote,
    SampleRepo,
    git,
    git_remote,
    push_commit,
    start_git_daemon,
    stop,
)

from tether.git import GitCache, GitTimeoutError, NetworkUnreachableError, Snapshot


class OwnDaemon:
    """A git daemon only this test signals, and the URL of one fresh repository on it."""

    def __init__(self, base: Path, bare: Path) -> None:
        self.process, self.port = start_git_daemon(base)
        self.remote = git_remote(base, self.port)
        self.url = self.remote.url(bare)

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
def own_daemon(git_base: Path, fresh_repo: tuple[Path, Path]) -> Iterator[OwnDaemon]:
    bare, _work = fresh_repo
    daemon = OwnDaemon(git_base, bare)
    try:
        yield daemon
    finally:
        if daemon.process.poll() is None:
            daemon.signal(signal.SIGCONT)
            stop(daemon.process)


def test_the_daemon_started_is_the_server_so_signals_reach_it(own_daemon: OwnDaemon) -> None:
    argv0 = Path(f"/proc/{own_daemon.process.pid}/cmdline").read_bytes().split(b"\0")[0]
    assert Path(argv0.decode()).name == "git-daemon"  # not the ``git`` wrapper


async def test_a_stopped_server_times_out_twice_and_the_cached_commit_stays(
    own_daemon: OwnDaemon, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    _bare, work = fresh_repo
    before = await cache.fetch(own_daemon.url, "main", insecure=True)
    own_daemon.signal(signal.SIGSTOP)
    push_commit(work, {"file0.yaml": "n: moved\n"}, "while stopped")

    # Each try fails on its own deadline; none waits behind the one before.
    for _ in range(2):
        with pytest.raises(GitTimeoutError, match=r"no answer within 2s") as caught:
            await cache.fetch(own_daemon.url, "main", insecure=True, timeout=2)
        assert "ref=main" in str(caught.value)

    assert _read(cache, before, "file0.yaml") == "n: 0\n"


async def test_killing_a_stopped_server_fails_the_waiting_fetch_now_not_at_its_timeout(
    own_daemon: OwnDaemon,
    cache: GitCache,
    git_daemon: int,
    git_base: Path,
    sample_repo: SampleRepo,
) -> None:
    before = await cache.fetch(own_daemon.url, "main", insecure=True)
    own_daemon.signal(signal.SIGSTOP)
    hanging = asyncio.ensure_future(cache.fetch(own_daemon.url, "main", insecure=True, timeout=120))

    # Another server's repository is fetched while this one hangs.
    healthy: Remote = git_remote(git_base, git_daemon)
    other = await cache.fetch(healthy.url(sample_repo.bare), "main", insecure=True)
    assert other.commit == sample_repo.shas["main"]
    assert not hanging.done()

    own_daemon.kill()  # the backlog is reset: the waiting fetch learns it at once
    with pytest.raises(NetworkUnreachableError, match="cannot reach the server"):
        await hanging
    with pytest.raises(NetworkUnreachableError, match="Connection refused"):
        await cache.fetch(own_daemon.url, "main", insecure=True)
    assert _read(cache, before, "file1.yaml") == "n: 1\n"


async def test_many_repositories_on_a_stopped_server_hold_up_no_other_work(
    git_base: Path,
    tmp_path: Path,
    cache: GitCache,
    git_daemon: int,
    sample_repo: SampleRepo,
) -> None:
    # More hung fetches than asyncio's default pool has threads (cpu count + 4, capped).
    hung_count = min(32, (os.cpu_count() or 1) + 4) + 2
    base = tmp_path / "stopped"
    base.mkdir()
    for i in range(hung_count):
        git("clone", "-q", "--bare", str(sample_repo.bare), str(base / f"r{i}.git"))
    daemon = OwnDaemon(base, base / "r0.git")
    try:
        daemon.signal(signal.SIGSTOP)
        urls = [daemon.remote.url(base / f"r{i}.git") for i in range(hung_count)]
        hung = [
            asyncio.ensure_future(cache.fetch(url, "main", insecure=True, timeout=120))
            for url in urls
        ]
        await _connected(hung_count, daemon.port)  # every fetch is in its network step
        # Renders and local reads (asyncio's default pool) and a server that answers
        # are served while every one of those fetches still waits.
        assert await asyncio.to_thread(lambda: "free") == "free"
        healthy = git_remote(git_base, git_daemon).url(sample_repo.bare)
        other = await cache.fetch(healthy, "main", insecure=True)
        assert other.commit == sample_repo.shas["main"]
        assert not any(task.done() for task in hung)
        daemon.kill()
        failures = await asyncio.gather(*hung, return_exceptions=True)
        assert all(isinstance(f, NetworkUnreachableError) for f in failures), failures
    finally:
        if daemon.process.poll() is None:
            daemon.signal(signal.SIGCONT)
            stop(daemon.process)


async def _connected(count: int, port: int) -> None:
    """Wait until ``count`` client sockets are connecting or connected to ``port``."""
    seen = 0
    for _ in range(600):
        seen = _client_sockets_to(port)
        if seen >= count:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"only {seen} of {count} fetches reached the stopped server")


def _client_sockets_to(port: int) -> int:
    """Sockets whose remote end is 127.0.0.1:``port``, ESTABLISHED or SYN_SENT."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    remote = f"0100007F:{port:04X}"
    return sum(1 for row in rows if row.split()[2] == remote and row.split()[3] in ("01", "02"))


def _read(cache: GitCache, snapshot: Snapshot, path: str) -> str:
    tree = cache.tree(snapshot)
    try:
        return tree.read(path).decode()
    finally:
        tree.close()
