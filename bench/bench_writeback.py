"""Write-back bench: tether's push_change against ``git commit && git push``, side by side.

Builds an app folder of ``--files`` manifests, serves two identical copies (one
for each client, so neither sees the other's commits) with ``git daemon
--enable=receive-pack`` and with smart HTTP (``git http-backend`` behind basic
auth), and times, alternating tether and git for every edit:

* edit  - one field of one file changed, then pushed: tether's ``push_change`` with
          a trivial build (the capture-to-pushed-commit latency, debounce 0) on a
          warm cache, against the git CLI in an up-to-date clone (``git commit -am``
          then ``git push``). p50 and p95 over ``--edits`` edits.
* 100   - one commit changing one field in each of 100 files, the same way
          (median of 3).
* ssh   - the same over sshd with a user key (git: ``GIT_SSH_COMMAND`` with the key
          and known_hosts), where each round trip is an ssh connection.
* signed- one edit with an SSH-signed commit over git://: tether's in-process SSHSIG
          against ``git commit -S`` with ``gpg.format=ssh`` (which runs ssh-keygen).

Like ``git push``, tether learns the tip from receive-pack's own ref list and, with
the tip in its cache (as after the app's last sync), pushes on that one connection.
Usage: ``.venv/bin/python bench/bench_writeback.py [--files 200] [--edits 20]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))

from git_servers import GIT_ENV, HttpGitServer, git, start_git_daemon, start_sshd, stop

from tether.git import GitAuth, GitCache
from tether.writeback.gitwrite import Author, PushTarget, Reader, push_change

AUTHOR = Author("Tether Bench", "bench@example.invalid")


def manifest(index: int, replicas: int) -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        f"  name: web-{index}  # the web tier\n  namespace: bench\nspec:\n"
        f"  replicas: {replicas}\n  template:\n    spec:\n      containers:\n"
        f"        - name: web\n          image: nginx:1.{index % 20}\n"
    )


def build_repos(base: Path, work: Path, files: int) -> None:
    work.mkdir()
    git("init", "-q", cwd=work)
    (work / "apps").mkdir()
    for index in range(files):
        (work / "apps" / f"web-{index:04d}.yaml").write_text(manifest(index, 1))
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "initial", cwd=work)
    for transport in ("git", "http", "ssh", "signed"):
        for client in ("tether", "cli"):
            git("clone", "-q", "--bare", str(work), str(base / f"{transport}-{client}.git"))


CLI_ENV: dict[str, str] = dict(GIT_ENV)  # plus GIT_SSH_COMMAND for the ssh run


def git_cli(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=CLI_ENV, check=True, capture_output=True)


def set_replicas(text: bytes, replicas: int) -> bytes:
    """The trivial build: one scalar changed in place, every other byte kept."""
    head, _, rest = text.partition(b"  replicas: ")
    _, _, tail = rest.partition(b"\n")
    return head + b"  replicas: %d\n" % replicas + tail


def tether_edit(
    target: PushTarget, cache: GitCache, files: range, replicas: int, key: bytes | None = None
) -> float:
    def build(read: Reader) -> dict[str, bytes]:
        changes = {}
        for index in files:
            path = f"apps/web-{index:04d}.yaml"
            current = read(path)
            assert current is not None
            changes[path] = set_replicas(current, replicas)
        return changes

    started = time.perf_counter()
    result = push_change(
        target, build, AUTHOR, f"replicas -> {replicas}", cache=cache, signing_key=key
    )
    elapsed = time.perf_counter() - started
    assert result.pushed and result.attempts == 1
    return elapsed


def cli_edit(clone: Path, files: range, replicas: int, key: Path | None = None) -> float:
    started = time.perf_counter()
    for index in files:
        path = clone / "apps" / f"web-{index:04d}.yaml"
        path.write_bytes(set_replicas(path.read_bytes(), replicas))
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"] if key else []
    git_cli(*sign, "commit", *(["-S"] if key else []), "-q", "-am", f"r {replicas}", cwd=clone)
    git_cli("push", "-q", "origin", "HEAD:main", cwd=clone)
    return time.perf_counter() - started


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run_transport(
    name: str, url: Callable[[str], str], auth: GitAuth, edits: int, scratch: Path
) -> None:
    cache = GitCache(scratch / f"{name}-cache", timeout=120)
    target = PushTarget(url(f"{name}-tether.git"), auth, "main", insecure=True)
    clone = scratch / f"{name}-clone"
    git_cli("clone", "-q", _with_creds(url(f"{name}-cli.git"), auth), str(clone), cwd=scratch)
    # Warm up both: tether's cache holds the tip, as it does after the app's last sync.
    tether_edit(target, cache, range(0, 1), 2)
    cli_edit(clone, range(0, 1), 2)
    tether: list[float] = []
    cli: list[float] = []
    for edit in range(edits):
        file = range(edit % 50, edit % 50 + 1)
        tether.append(tether_edit(target, cache, file, 1000 + edit))
        cli.append(cli_edit(clone, file, 1000 + edit))
    t50, c50, t95, c95 = statistics.median(tether), statistics.median(cli), p95(tether), p95(cli)
    print(
        f"{name:5} edit  p50 tether {t50 * 1000:6.1f} ms  git {c50 * 1000:6.1f} ms  "
        f"ratio {t50 / c50:.2f} | p95 tether {t95 * 1000:6.1f} ms  git {c95 * 1000:6.1f} ms  "
        f"ratio {t95 / c95:.2f}"
    )
    hundred = range(100, 200)
    bulk_t = statistics.median(tether_edit(target, cache, hundred, 500 + r) for r in range(3))
    bulk_c = statistics.median(cli_edit(clone, hundred, 500 + r) for r in range(3))
    print(
        f"{name:5} 100 files in one commit  tether {bulk_t * 1000:6.1f} ms  "
        f"git {bulk_c * 1000:6.1f} ms  ratio {bulk_t / bulk_c:.2f}"
    )


def run_signed(url: Callable[[str], str], edits: int, scratch: Path) -> None:
    """Signed commits over git://: tether's in-process SSHSIG against git's ssh-keygen."""
    key = scratch / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cache = GitCache(scratch / "signed-cache", timeout=120)
    target = PushTarget(url("signed-tether.git"), GitAuth(), "main", insecure=True)
    clone = scratch / "signed-clone"
    git_cli("clone", "-q", url("signed-cli.git"), str(clone), cwd=scratch)
    tether_edit(target, cache, range(0, 1), 2, key.read_bytes())
    cli_edit(clone, range(0, 1), 2, key)
    tether: list[float] = []
    cli: list[float] = []
    for edit in range(edits):
        file = range(edit % 50, edit % 50 + 1)
        tether.append(tether_edit(target, cache, file, 1000 + edit, key.read_bytes()))
        cli.append(cli_edit(clone, file, 1000 + edit, key))
    t50, c50 = statistics.median(tether), statistics.median(cli)
    print(
        f"git   signed edit  p50 tether {t50 * 1000:6.1f} ms  git {c50 * 1000:6.1f} ms  "
        f"ratio {t50 / c50:.2f}"
    )


def _with_creds(url: str, auth: GitAuth) -> str:
    if auth.username is None:
        return url
    return url.replace("://", f"://{auth.username}:{auth.password}@", 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tether-bench-writeback-"))
    base = scratch / "served"
    base.mkdir()
    build_repos(base, scratch / "work", max(args.files, 200))
    daemon, port = start_git_daemon(base, receive_pack=True)
    http = HttpGitServer(base)
    http.start()
    try:
        print(f"repo: {max(args.files, 200)} files; {args.edits} edits per client and transport")
        run_transport(
            "git", lambda repo: f"git://127.0.0.1:{port}/{repo}", GitAuth(), args.edits, scratch
        )
        run_transport(
            "http",
            lambda repo: f"{http.url}/{repo}",
            GitAuth(username=http.username, password=http.password),
            args.edits,
            scratch,
        )
        sshd = start_sshd(scratch / "sshd")
        known_hosts = scratch / "sshd" / "bench_known_hosts"
        known_hosts.write_text(sshd.known_hosts)
        CLI_ENV["GIT_SSH_COMMAND"] = (
            f"ssh -F /dev/null -i {sshd.folder / 'client_key'} -o IdentitiesOnly=yes "
            f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
        )
        try:
            run_transport(
                "ssh",
                lambda repo: sshd.url(base / repo),
                GitAuth(identity=sshd.client_key, known_hosts=sshd.known_hosts.encode()),
                args.edits,
                scratch,
            )
        finally:
            stop(sshd.process)
        del CLI_ENV["GIT_SSH_COMMAND"]
        run_signed(lambda repo: f"git://127.0.0.1:{port}/{repo}", args.edits, scratch)
    finally:
        stop(daemon)
        http.stop()


if __name__ == "__main__":
    main()
