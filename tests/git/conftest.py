"""Fixtures: a sample repository served by real git daemon, smart HTTP and sshd on 127.0.0.1."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from git_servers import (
    HttpGitServer,
    Remote,
    SampleRepo,
    SSHServer,
    commit_files,
    git,
    git_remote,
    http_remote_for,
    ssh_remote_for,
    start_git_daemon,
    start_sshd,
    stop,
    symlink,
)

from tether.git import GitCache


@pytest.fixture(scope="session")
def git_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("served")


@pytest.fixture(scope="session")
def sample_repo(git_base: Path, tmp_path_factory: pytest.TempPathFactory) -> SampleRepo:
    work = tmp_path_factory.mktemp("sample-work")
    git("init", "-q", cwd=work)
    shas: dict[str, str] = {}
    shas["c1"] = commit_files(
        work, {"README.md": "hello\n", "manifests/a.yaml": "kind: A\n"}, "one"
    )
    git("tag", "v1.0.0", cwd=work)
    shas["c2"] = commit_files(work, {"manifests/b.yaml": "kind: B\n"}, "two")
    git("tag", "-a", "v1.2.0", "-m", "annotated", cwd=work)
    git("branch", "dev", cwd=work)
    shas["c3"] = commit_files(work, {"manifests/c.yaml": "kind: C\n"}, "three")
    git("tag", "v1.2.5", cwd=work)
    git("tag", "-a", "v1.3.0-rc.1", "-m", "pre", cwd=work)
    symlink(work, "links/inside", "../manifests")
    symlink(work, "links/file.yaml", "../manifests/a.yaml")
    symlink(work, "links/outside", "../../etc")
    symlink(work, "links/absolute", "/etc/passwd")
    symlink(work, "links/chain", "inside/b.yaml")
    symlink(work, "links/loop", "loop")
    shas["c4"] = commit_files(
        work, {"deep/x/y/z.txt": "deep\n", "bin/run.sh": "#!/bin/sh\n"}, "four"
    )
    (work / "bin/run.sh").chmod(0o755)
    shas["c5"] = commit_files(work, {"bin/run.sh": "#!/bin/sh\necho hi\n"}, "five")
    git("tag", "2.0.0", cwd=work)
    git("tag", "v2.1.0-beta.1", cwd=work)
    git("checkout", "-q", "dev", cwd=work)
    shas["dev"] = commit_files(work, {"dev.txt": "dev\n"}, "dev work")
    git("checkout", "-q", "-b", "pr7", "main", cwd=work)
    shas["pr7"] = commit_files(work, {"pr.txt": "pull request\n"}, "pr")
    git("checkout", "-q", "main", cwd=work)
    bare = git_base / "sample.git"
    git("clone", "-q", "--bare", str(work), str(bare))
    git("update-ref", "refs/pull/7/head", shas["pr7"], cwd=bare)
    git("branch", "-D", "pr7", cwd=bare)
    shas["tag-v1.2.0"] = git("rev-parse", "refs/tags/v1.2.0", cwd=bare)
    shas["main"] = shas["c5"]
    return SampleRepo(bare, work, shas)


_counter = itertools.count()


@pytest.fixture
def fresh_repo(git_base: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A new served repository with one commit on main; returns (bare path, work tree)."""
    name = f"fresh-{next(_counter)}.git"
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", cwd=work)
    commit_files(work, {f"file{i}.yaml": f"n: {i}\n" for i in range(20)}, "initial")
    bare = git_base / name
    git("clone", "-q", "--bare", str(work), str(bare))
    git("remote", "add", "origin", str(bare), cwd=work)
    yield bare, work


@pytest.fixture(scope="session")
def git_daemon(git_base: Path) -> Iterator[int]:
    process, port = start_git_daemon(git_base)
    yield port
    stop(process)


@pytest.fixture(scope="session")
def http_server(git_base: Path) -> Iterator[HttpGitServer]:
    server = HttpGitServer(git_base)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    stop(server.process)


@pytest.fixture(params=["git", "http", "ssh"])
def remote(request: pytest.FixtureRequest, git_base: Path) -> Remote:
    if request.param == "git":
        return git_remote(git_base, request.getfixturevalue("git_daemon"))
    if request.param == "http":
        return http_remote_for(git_base, request.getfixturevalue("http_server"))
    return ssh_remote_for(request.getfixturevalue("sshd"))


@pytest.fixture
def http_remote(git_base: Path, http_server: HttpGitServer) -> Remote:
    return http_remote_for(git_base, http_server)


@pytest.fixture
def cache(tmp_path: Path) -> GitCache:
    return GitCache(tmp_path / "cache", timeout=20)
