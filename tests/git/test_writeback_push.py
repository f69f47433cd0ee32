"""Write-back commit and push against real servers: git daemon, smart HTTP and sshd.

Every test pushes to a fresh bare repository served by all three servers, then
reads the result back with the git CLI (the servers' own view), never through
Tether: which commits the branch holds, their parents, and which files changed.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from git_servers import (
    HttpGitServer,
    Remote,
    SSHServer,
    git,
    http_remote_for,
    push_commit,
    ssh_remote_for,
    start_git_daemon,
    stop,
)

from tether.git import FileURLPolicy, GitAuth, GitCache
from tether.git.push import sanitize
from tether.writeback.errors import (
    FieldMoved,
    GitWriteError,
    PushDenied,
    WriteBackError,
    WriteBackReason,
)
from tether.writeback.gitwrite import (
    Author,
    PushResult,
    PushTarget,
    Reader,
    push_change,
    signing_key_of,
)

AUTHOR = Author("Tether Bot", "tether@example.invalid")


@pytest.fixture(scope="session")
def push_daemon(git_base: Path) -> Iterator[int]:
    """A git daemon with receive-pack enabled over the same served folder."""
    process, port = start_git_daemon(git_base, receive_pack=True)
    yield port
    stop(process)


@pytest.fixture(params=["git", "http", "ssh"])
def writable(request: pytest.FixtureRequest, git_base: Path) -> Remote:
    """A transport whose credentials may push."""
    if request.param == "git":
        port = request.getfixturevalue("push_daemon")
        return Remote(
            "git", lambda repo: f"git://127.0.0.1:{port}/{repo.relative_to(git_base)}", {}, True, {}
        )
    if request.param == "http":
        return http_remote_for(git_base, request.getfixturevalue("http_server"))
    return ssh_remote_for(request.getfixturevalue("sshd"))


def target(remote: Remote, bare: Path, **extra: object) -> PushTarget:
    return PushTarget(
        url=remote.url(bare),
        auth=GitAuth.from_mapping(remote.auth),
        branch="main",
        insecure=remote.insecure,
        **extra,  # type: ignore[arg-type]
    )


def tip(bare: Path, ref: str = "main") -> str:
    return git("rev-parse", ref, cwd=bare)


def changed(bare: Path, old: str, new: str) -> list[str]:
    return git("diff", "--name-status", old, new, cwd=bare).splitlines()


def bump(read: Reader) -> dict[str, bytes]:
    """The edit: file3.yaml's value 3 -> 33, plus a new file in a new folder."""
    current = read("file3.yaml")
    assert current is not None
    return {"file3.yaml": current.replace(b"n: 3", b"n: 33"), "apps/web/cm.yaml": b"kind: X\n"}


def test_push_over_each_transport(
    writable: Remote, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    bare, _ = fresh_repo
    before = tip(bare)
    result = push_change(
        target(writable, bare), bump, AUTHOR, "write-back: file3 to 33", cache=cache
    )
    assert result == PushResult(result.commit, before, 1, "main", True)
    assert tip(bare) == result.commit
    assert git("log", "-1", "--format=%P|%an <%ae>|%cn|%s", "main", cwd=bare) == (
        f"{before}|Tether Bot <tether@example.invalid>|Tether Bot|write-back: file3 to 33"
    )
    assert changed(bare, before, result.commit) == ["A\tapps/web/cm.yaml", "M\tfile3.yaml"]
    assert git("show", "main:file3.yaml", cwd=bare) == "n: 33"
    git("fsck", "--strict", cwd=bare)


def test_the_cache_knows_the_pushed_commit(
    writable: Remote, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    """After the push, a reader with the same credentials gets the commit with no network."""
    bare, _ = fresh_repo
    result = push_change(target(writable, bare), bump, AUTHOR, "edit", cache=cache)
    listed, fetched = cache.stats.ls_remotes, cache.stats.fetches
    snapshot = asyncio.run(
        cache.fetch(
            writable.url(bare), result.commit, writable.auth, insecure=writable.insecure, max_age=60
        )
    )
    assert snapshot.commit == result.commit
    assert (cache.stats.ls_remotes, cache.stats.fetches) == (listed, fetched)
    with cache.tree(snapshot) as tree:
        assert tree.read("file3.yaml") == b"n: 33\n"


def test_a_commit_lands_between_fetch_and_push(
    writable: Remote, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    """The other commit stays; ours goes on top of it, built again from the new tip."""
    bare, work = fresh_repo
    before = tip(bare)
    seen: list[bytes | None] = []
    competing: list[str] = []

    def build(read: Reader) -> dict[str, bytes]:
        seen.append(read("file7.yaml"))
        if not competing:
            competing.append(push_commit(work, {"file7.yaml": "n: 700\n"}, "someone else"))
        return bump(read)

    result = push_change(target(writable, bare), build, AUTHOR, "edit", cache=cache)
    assert result.attempts == 2
    assert seen == [b"n: 7\n", b"n: 700\n"], "the second build read the new tip"
    assert result.parent == competing[0]
    assert git("rev-list", "main", cwd=bare).splitlines() == [result.commit, competing[0], before]
    assert changed(bare, before, "main") == [
        "A\tapps/web/cm.yaml",
        "M\tfile3.yaml",
        "M\tfile7.yaml",
    ]


def test_field_moved_upstream_is_raised_and_nothing_is_pushed(
    fresh_repo: tuple[Path, Path], push_daemon: int, git_base: Path, cache: GitCache
) -> None:
    bare, work = fresh_repo
    remote = _daemon(git_base, push_daemon)
    calls = []

    def build(read: Reader) -> dict[str, bytes]:
        calls.append(1)
        if len(calls) == 1:
            push_commit(work, {"file3.yaml": "moved: 3\n"}, "rename the field")
            return bump(read)
        raise FieldMoved("file3.yaml: /n is gone at the tip")

    competing_before = tip(bare)
    with pytest.raises(WriteBackError) as caught:
        push_change(target(remote, bare), build, AUTHOR, "edit", cache=cache)
    assert caught.value.reason is WriteBackReason.FIELD_MOVED
    assert len(calls) == 2
    assert git("rev-list", "--count", f"{competing_before}..main", cwd=bare) == "1"
    assert git("log", "-1", "--format=%s", "main", cwd=bare) == "rename the field"


def test_a_branch_that_keeps_moving_ends_in_conflict(
    fresh_repo: tuple[Path, Path], push_daemon: int, git_base: Path, cache: GitCache
) -> None:
    bare, work = fresh_repo
    others: list[str] = []

    def build(read: Reader) -> dict[str, bytes]:
        others.append(push_commit(work, {"file9.yaml": f"n: {len(others)}\n"}, "busy"))
        return bump(read)

    with pytest.raises(WriteBackError) as caught:
        push_change(
            target(_daemon(git_base, push_daemon), bare), build, AUTHOR, "edit", max_attempts=3
        )
    assert caught.value.reason is WriteBackReason.CONFLICT
    assert "3 attempts" in str(caught.value)
    assert tip(bare) == others[-1], "every other commit stays, none of ours landed"
    assert len(others) == 3


def test_empty_change_pushes_nothing(
    writable: Remote, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    bare, _ = fresh_repo
    before = tip(bare)
    same = push_change(
        target(writable, bare),
        lambda read: {"file1.yaml": read("file1.yaml") or b""},
        AUTHOR,
        "no-op",
        cache=cache,
    )
    nothing = push_change(target(writable, bare), lambda read: {}, AUTHOR, "no-op", cache=cache)
    for result in (same, nothing):
        assert result == PushResult(before, before, 1, "main", pushed=False)
    assert tip(bare) == before


# --- refusals -------------------------------------------------------------------------


def denied(remote: Remote, bare: Path, cache: GitCache) -> str:
    """Push ``bump``; assert PUSH_DENIED and an untouched branch; return the message."""
    before = tip(bare)
    with pytest.raises(WriteBackError) as caught:
        push_change(target(remote, bare), bump, AUTHOR, "edit", cache=cache)
    assert caught.value.reason is WriteBackReason.PUSH_DENIED
    assert tip(bare) == before
    return str(caught.value)


def test_read_only_http_credential_is_push_denied(
    http_server: HttpGitServer, fresh_repo: tuple[Path, Path], git_base: Path, cache: GitCache
) -> None:
    auth = {"username": http_server.readonly_username, "password": http_server.readonly_password}
    remote = Remote("http", http_remote_for(git_base, http_server).url, auth, True, {})
    message = denied(remote, fresh_repo[0], cache)
    assert "HTTP 403" in message
    assert http_server.readonly_password not in message


def test_wrong_http_credentials_are_push_denied_and_lose_their_proof(
    http_remote: Remote, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    bare, _ = fresh_repo
    wrong = Remote("http", http_remote.url, http_remote.bad_auth, True, {})
    grant = cache.grant(wrong.url(bare), GitAuth.from_mapping(wrong.auth))
    cache.record_proof(grant)  # as if these credentials had worked before
    message = denied(wrong, bare, cache)
    assert "authentication failed" in message
    assert str(wrong.auth["password"]) not in message
    assert not cache.proven(grant, 3600)


def test_read_only_ssh_key_is_push_denied_with_the_servers_words(
    sshd: SSHServer, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    auth = {"identity": sshd.readonly_key, "known_hosts": sshd.known_hosts}
    message = denied(Remote("ssh", sshd.url, auth, False, {}), fresh_repo[0], cache)
    assert "this deploy key is read-only; pushes are refused" in message
    assert "PRIVATE KEY" not in message


def test_daemon_without_receive_pack_is_push_denied(
    git_daemon: int, fresh_repo: tuple[Path, Path], git_base: Path, cache: GitCache
) -> None:
    message = denied(_daemon(git_base, git_daemon), fresh_repo[0], cache)
    assert "service not enabled" in message


def test_a_hook_refusal_carries_the_hooks_words(
    writable: Remote, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    bare, _ = fresh_repo
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is protected: open a merge request' >&2\nexit 1\n")
    hook.chmod(0o755)
    message = denied(writable, bare, cache)
    assert "main is protected: open a merge request" in message
    assert "pre-receive hook declined" in message


# --- the review branch ------------------------------------------------------------------


def test_push_branch_is_created_then_replaced_under_its_lease(
    writable: Remote, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    bare, _ = fresh_repo
    main = tip(bare)
    first = push_change(
        target(writable, bare, push_branch="tether/review"), bump, AUTHOR, "one", cache=cache
    )
    assert (first.branch, first.parent, first.pushed) == ("tether/review", main, True)
    assert tip(bare, "tether/review") == first.commit
    assert tip(bare) == main, "the followed branch is not touched"

    def other(read: Reader) -> dict[str, bytes]:
        return {"file5.yaml": b"n: 55\n"}

    second = push_change(
        target(writable, bare, push_branch="tether/review", lease=first.commit),
        other,
        AUTHOR,
        "two",
        cache=cache,
    )
    assert tip(bare, "tether/review") == second.commit
    assert second.parent == main, "the review branch is one commit on the branch tip"
    assert changed(bare, main, second.commit) == ["M\tfile5.yaml"]


@pytest.mark.parametrize("lease", [None, "0" * 40], ids=["none", "wrong"])
def test_push_branch_with_a_stale_lease_is_a_conflict(
    lease: str | None,
    fresh_repo: tuple[Path, Path],
    push_daemon: int,
    git_base: Path,
    cache: GitCache,
) -> None:
    bare, _ = fresh_repo
    git("branch", "tether/review", "main", cwd=bare)  # someone else's review branch
    theirs = tip(bare, "tether/review")
    remote = _daemon(git_base, push_daemon)
    with pytest.raises(WriteBackError) as caught:
        push_change(
            target(remote, bare, push_branch="tether/review", lease=lease),
            bump,
            AUTHOR,
            "edit",
            cache=cache,
        )
    assert caught.value.reason is WriteBackReason.CONFLICT
    assert "tether/review" in str(caught.value)
    assert tip(bare, "tether/review") == theirs


# --- signing ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_signed_commit_verifies_with_git(
    kind: str,
    fresh_repo: tuple[Path, Path],
    push_daemon: int,
    git_base: Path,
    tmp_path: Path,
    cache: GitCache,
) -> None:
    bare, _ = fresh_repo
    key = _keygen(tmp_path / f"sign_{kind}", kind)
    stranger = _keygen(tmp_path / "stranger", "ed25519")
    result = push_change(
        target(_daemon(git_base, push_daemon), bare),
        bump,
        AUTHOR,
        "signed edit",
        signing_key=key.read_bytes(),
        cache=cache,
    )
    good = _verify(bare, result.commit, key, tmp_path / "allowed")
    assert good.returncode == 0, good.stderr
    assert 'Good "git" signature for tether@example.invalid' in good.stderr
    bad = _verify(bare, result.commit, stranger, tmp_path / "strangers")
    assert bad.returncode != 0, "a signer not in the allowed file is refused"


def test_an_unusable_signing_key_is_refused_before_anything_is_pushed(
    fresh_repo: tuple[Path, Path], push_daemon: int, git_base: Path, cache: GitCache
) -> None:
    bare, _ = fresh_repo
    before = tip(bare)
    with pytest.raises(WriteBackError) as caught:
        push_change(
            target(_daemon(git_base, push_daemon), bare),
            bump,
            AUTHOR,
            "edit",
            signing_key=b"-----BEGIN OPENSSH PRIVATE KEY-----\nbm9wZQ==\n-----END...",
            cache=cache,
        )
    assert caught.value.reason is WriteBackReason.GIT_ERROR
    assert "signingKey" in str(caught.value)
    assert "bm9wZQ" not in str(caught.value)
    assert tip(bare) == before


def _daemon(git_base: Path, port: int) -> Remote:
    return Remote(
        "git", lambda repo: f"git://127.0.0.1:{port}/{repo.relative_to(git_base)}", {}, True, {}
    )


def _keygen(path: Path, kind: str) -> Path:
    bits = {"rsa": ["-b", "3072"], "ecdsa": ["-b", "256"]}.get(kind, [])
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, *bits, "-N", "", "-C", "signer", "-f", str(path)],
        check=True,
    )
    return path


def _verify(bare: Path, commit: str, key: Path, allowed: Path) -> subprocess.CompletedProcess[str]:
    public = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    allowed.write_text(f'tether@example.invalid namespaces="git" {public}\n')
    return subprocess.run(
        [
            "git",
            "-c",
            "gpg.format=ssh",
            "-c",
            f"gpg.ssh.allowedSignersFile={allowed}",
            "verify-commit",
            commit,
        ],
        cwd=bare,
        capture_output=True,
        text=True,
    )


# --- several writers, one repository -----------------------------------------------------


def test_two_writers_at_once_both_land(
    writable: Remote, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    """Two apps of one operator (one shared cache) push to one branch at the same moment."""
    bare, _ = fresh_repo
    before = tip(bare)
    ready = threading.Barrier(2)

    def writer(name: str) -> PushResult:
        def build(read: Reader) -> dict[str, bytes]:
            if not built[name]:
                built[name] = True
                ready.wait(timeout=30)  # both have read the same tip before either pushes
            return {f"{name}.yaml": f"by: {name}\n".encode()}

        return push_change(target(writable, bare), build, AUTHOR, f"from {name}", cache=cache)

    built = {"app-a": False, "app-b": False}
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(writer, ["app-a", "app-b"]))
    assert sorted(r.attempts for r in results) == [1, 2]
    history = git("rev-list", "main", cwd=bare).splitlines()
    assert history[-1] == before and len(history) == 3
    assert {r.commit for r in results} == set(history[:2])
    assert changed(bare, before, "main") == ["A\tapp-a.yaml", "A\tapp-b.yaml"]


def test_a_secret_with_only_a_signing_key_reads_anonymously(
    fresh_repo: tuple[Path, Path], push_daemon: int, git_base: Path, tmp_path: Path
) -> None:
    bare, _ = fresh_repo
    secret = {"signingKey": _keygen(tmp_path / "only", "ed25519").read_bytes()}
    auth = GitAuth.from_mapping(secret)
    assert auth.unused_keys == ()
    remote = _daemon(git_base, push_daemon)
    result = push_change(
        PushTarget(remote.url(bare), auth, "main", insecure=True),
        bump,
        AUTHOR,
        "signed",
        signing_key=signing_key_of(secret),
        cache=GitCache(tmp_path / "cache"),
    )
    assert _verify(bare, result.commit, tmp_path / "only", tmp_path / "allowed").returncode == 0


def test_server_words_lose_credentials() -> None:
    auth = GitAuth.from_mapping({"username": "alice", "password": "pw-123456"})
    text = "denied for https://alice:pw-123456@host/x.git (pw-123456)"
    assert sanitize(text, auth) == "denied for https://***@host/x.git (***)"
    bearer = GitAuth.from_mapping({"bearerToken": "tok-abcdef"})
    assert "tok-abcdef" not in sanitize("token tok-abcdef refused", bearer)


# --- one connection when the cache has the tip -------------------------------------------


def test_a_cached_tip_is_pushed_on_one_connection(
    writable: Remote, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    """As ``git push``: receive-pack's own ref list is enough when the tip is cached."""
    bare, _ = fresh_repo
    first = push_change(target(writable, bare), bump, AUTHOR, "one", cache=cache)
    listed, fetched = cache.stats.ls_remotes, cache.stats.fetches
    second = push_change(
        target(writable, bare),
        lambda read: {"file5.yaml": b"n: 55\n"},
        AUTHOR,
        "two",
        cache=cache,
    )
    assert (cache.stats.ls_remotes, cache.stats.fetches) == (listed, fetched)
    assert (second.parent, second.attempts) == (first.commit, 1)
    assert tip(bare) == second.commit


def test_a_tip_the_cache_lacks_is_fetched_then_built_on(
    writable: Remote, fresh_repo: tuple[Path, Path], cache: GitCache
) -> None:
    bare, work = fresh_repo
    push_change(target(writable, bare), bump, AUTHOR, "one", cache=cache)
    git("pull", "-q", "origin", "main", cwd=work)
    other = push_commit(work, {"file8.yaml": "n: 88\n"}, "someone else")
    fetched = cache.stats.fetches
    reads: list[bytes | None] = []

    def build(read: Reader) -> dict[str, bytes]:
        reads.append(read("file8.yaml"))
        return {"file5.yaml": b"n: 55\n"}

    result = push_change(target(writable, bare), build, AUTHOR, "two", cache=cache)
    assert reads == [b"n: 88\n"], "built once, on the new tip"
    assert (result.parent, result.attempts) == (other, 1)
    assert cache.stats.fetches == fetched + 1
    assert git("rev-list", "-1", "main^", cwd=bare) == other


# --- file:// (the CLI with a local repository) -------------------------------------------


def test_push_to_a_local_bare_repository(fresh_repo: tuple[Path, Path], tmp_path: Path) -> None:
    bare, _ = fresh_repo
    before = tip(bare)
    cache = GitCache(tmp_path / "cache", file_urls=FileURLPolicy.any_folder())
    local = PushTarget(f"file://{bare}", GitAuth(), "main", insecure=True)
    result = push_change(local, bump, AUTHOR, "edit", cache=cache)
    assert (tip(bare), result.parent) == (result.commit, before)


@pytest.mark.parametrize("where", ["work tree", ".git folder"])
def test_a_checked_out_branch_is_never_moved(
    where: str, fresh_repo: tuple[Path, Path], tmp_path: Path
) -> None:
    """As git's receive.denyCurrentBranch: the work tree would disagree with its branch."""
    _, work = fresh_repo
    before = tip(work)
    path = work if where == "work tree" else work / ".git"
    cache = GitCache(tmp_path / "cache", file_urls=FileURLPolicy.any_folder())
    local = PushTarget(f"file://{path}", GitAuth(), "main", insecure=True)
    with pytest.raises(PushDenied, match="checked-out branch refs/heads/main"):
        push_change(local, bump, AUTHOR, "edit", cache=cache)
    assert tip(work) == before
    assert git("status", "--porcelain", cwd=work) == ""


def test_an_unreachable_server_is_a_git_error_not_a_refusal(
    fresh_repo: tuple[Path, Path], git_base: Path, cache: GitCache
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = closed.getsockname()[1]
        with pytest.raises(GitWriteError, match="cannot reach the server") as caught:
            push_change(
                target(_daemon(git_base, port), fresh_repo[0]), bump, AUTHOR, "e", cache=cache
            )
    assert caught.value.reason is WriteBackReason.GIT_ERROR
