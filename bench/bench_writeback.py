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

Tether is timed twice: listing the remote refs first to learn the tip (and prove
the credentials), which the git CLI is spared; and building on the cache's tip
(``PushTarget.max_age``, as the operator does right after a sync).
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
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))

from git_servers import GIT_ENV, HttpGitServer, git, start_git_daemon, stop

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
    for transport in ("git", "http"):
        for client in ("tether", "cli"):
            git("clone", "-q", "--bare", str(work), str(base / f"{transport}-{client}.git"))


def git_cli(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True)


def set_replicas(text: bytes, replicas: int) -> bytes:
    """The trivial build: one scalar changed in place, every other byte kept."""
    head, _, rest = text.partition(b"  replicas: ")
    _, _, tail = rest.partition(b"\n")
    return head + b"  replicas: %d\n" % replicas + tail


def tether_edit(target: PushTarget, cache: GitCache, files: range, replicas: int) -> float:
    def build(read: Reader) -> dict[str, bytes]:
        changes = {}
        for index in files:
            path = f"apps/web-{index:04d}.yaml"
            current = read(path)
            assert current is not None
            changes[path] = set_replicas(current, replicas)
        return changes

    started = time.perf_counter()
    result = push_change(target, build, AUTHOR, f"replicas -> {replicas}", cache=cache)
    elapsed = time.perf_counter() - started
    assert result.pushed and result.attempts == 1
    return elapsed


def cli_edit(clone: Path, files: range, replicas: int) -> float:
    started = time.perf_counter()
    for index in files:
        path = clone / "apps" / f"web-{index:04d}.yaml"
        path.write_bytes(set_replicas(path.read_bytes(), replicas))
    git_cli("commit", "-q", "-am", f"replicas -> {replicas}", cwd=clone)
    git_cli("push", "-q", "origin", "HEAD:main", cwd=clone)
    return time.perf_counter() - started


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run_transport(
    name: str, url: Callable[[str], str], auth: GitAuth, edits: int, scratch: Path
) -> None:
    cache = GitCache(scratch / f"{name}-cache", timeout=120)
    listing = PushTarget(url(f"{name}-tether.git"), auth, "main", insecure=True)
    cached = replace(listing, max_age=3600.0)
    clone = scratch / f"{name}-clone"
    git_cli("clone", "-q", _with_creds(url(f"{name}-cli.git"), auth), str(clone), cwd=scratch)
    # Warm up both: tether's cache holds the tip, as it does after the app's last sync.
    tether_edit(listing, cache, range(0, 1), 2)
    cli_edit(clone, range(0, 1), 2)
    series: dict[str, list[float]] = {"list": [], "cached": [], "git": []}
    for edit in range(edits):
        file = range(edit % 50, edit % 50 + 1)
        series["list"].append(tether_edit(listing, cache, file, 1000 + edit))
        series["cached"].append(tether_edit(cached, cache, file, 2000 + edit))
        series["git"].append(cli_edit(clone, file, 1000 + edit))
    git50, git95 = statistics.median(series["git"]), p95(series["git"])
    print(f"{name:5} edit, git CLI          p50 {git50 * 1000:6.1f} ms  p95 {git95 * 1000:6.1f} ms")
    for variant, label in (("list", "refs listed first"), ("cached", "cached tip (max_age)")):
        t50, t95 = statistics.median(series[variant]), p95(series[variant])
        print(
            f"{name:5} edit, tether {label:21} p50 {t50 * 1000:6.1f} ms ({t50 / git50:.2f}x)  "
            f"p95 {t95 * 1000:6.1f} ms ({t95 / git95:.2f}x)"
        )
    hundred = range(100, 200)
    bulk_t = statistics.median(tether_edit(listing, cache, hundred, 500 + r) for r in range(3))
    bulk_c = statistics.median(cli_edit(clone, hundred, 500 + r) for r in range(3))
    print(
        f"{name:5} 100 files in one commit  tether {bulk_t * 1000:6.1f} ms  "
        f"git {bulk_c * 1000:6.1f} ms  ratio {bulk_t / bulk_c:.2f}"
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
    finally:
        stop(daemon)
        http.stop()


if __name__ == "__main__":
    main()
