"""Fetch bench: tether (dulwich) against the git CLI on the same local server, side by side.

Builds a repository of meaningful size (2,000 files in 40 folders, 20 commits),
serves it with ``git daemon`` and with smart HTTP (``git http-backend`` behind
basic auth), and times three cases for each client:

* cold     - empty cache, shallow fetch of main (git: ``clone --bare --depth 1``);
* incr     - one new commit touching one file (git: ``fetch --depth 1``);
* unchanged- nothing moved, refs listed only (git: the same ``fetch``);
* sha-fresh- a cached full SHA whose credentials were proven within the interval:
             no network at all (git: ``cat-file -e``, a local check);
* sha-proof- the same SHA after the interval: one ls-remote proves the credentials,
             no pack (git: ``ls-remote``).

Prints the median of ``--rounds`` runs per case and the ratio tether/git.
Usage: ``.venv/bin/python bench/bench_fetch.py [--files 2000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))

from git_servers import GIT_ENV, HttpGitServer, git, start_git_daemon, stop

from tether.git import GitCache


def build_repo(base: Path, work: Path, files: int, commits: int) -> Path:
    work.mkdir()
    git("init", "-q", cwd=work)
    for index in range(files):
        folder = work / f"app{index % 40:02d}"
        folder.mkdir(exist_ok=True)
        (folder / f"cm-{index:05d}.yaml").write_text(_manifest(index, 0))
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "initial", cwd=work)
    for round_ in range(1, commits):
        for index in range(round_, files, 97):
            (work / f"app{index % 40:02d}" / f"cm-{index:05d}.yaml").write_text(
                _manifest(index, round_)
            )
        git("commit", "-q", "-am", f"change {round_}", cwd=work)
    bare = base / "bench.git"
    git("clone", "-q", "--bare", str(work), str(bare))
    git("remote", "add", "origin", str(bare), cwd=work)
    return bare


def _manifest(index: int, generation: int) -> str:
    data = "\n".join(f"  key{k}: value-{index}-{k}-{generation}" for k in range(12))
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{index}\n  namespace: bench\ndata:\n{data}\n"


_serial = itertools.count(1000)


def push_one_commit(work: Path) -> None:
    serial = next(_serial)
    (work / "app00" / "cm-00000.yaml").write_text(_manifest(0, serial))
    git("commit", "-q", "-am", f"bench {serial}", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def git_cli(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True)


Times = dict[str, tuple[float, float]]


def one_round(
    url: str, cli_url: str, auth: dict[str, str], work: Path, cache: GitCache, clone: Path
) -> Times:
    """Cold, incremental and unchanged fetch, tether then git CLI, on fresh caches."""

    def tether_fetch() -> None:
        asyncio.run(cache.fetch(url, "main", auth, insecure=True))

    def tether_sha(max_age: float) -> Callable[[], object]:
        return lambda: asyncio.run(
            cache.fetch(url, pinned[0], auth, insecure=True, max_age=max_age)
        )

    def cli_has_sha() -> None:
        git_cli("cat-file", "-e", pinned[0], cwd=clone)

    def cli_ls_remote() -> None:
        git_cli("ls-remote", "origin", "main", cwd=clone)

    def cli_fetch() -> None:
        git_cli("fetch", "-q", "--depth", "1", "origin", "+main:main", cwd=clone)

    def cli_clone() -> None:
        git_cli(
            "clone",
            "-q",
            "--bare",
            "--depth",
            "1",
            "--single-branch",
            "-b",
            "main",
            cli_url,
            str(clone),
        )

    result: Times = {"cold": (timed(tether_fetch), timed(cli_clone))}
    push_one_commit(work)
    result["incr"] = (timed(tether_fetch), timed(cli_fetch))
    before = cache.stats.fetches
    result["unchanged"] = (timed(tether_fetch), timed(cli_fetch))
    assert cache.stats.fetches == before, "an unchanged ref must not fetch"
    pinned = [asyncio.run(cache.fetch(url, "main", auth, insecure=True)).commit]
    listed = cache.stats.ls_remotes
    result["sha-fresh"] = (timed(tether_sha(3600.0)), timed(cli_has_sha))
    assert cache.stats.ls_remotes == listed, "a proven, cached SHA must cost no network"
    result["sha-proof"] = (timed(tether_sha(0.0)), timed(cli_ls_remote))
    assert cache.stats.ls_remotes == listed + 1 and cache.stats.fetches == before
    return result


def run_transport(
    name: str, url: str, cli_url: str, auth: dict[str, str], work: Path, rounds: int, scratch: Path
) -> Times:
    samples: list[Times] = []
    packs: list[int] = []
    for round_ in range(rounds):
        cache = GitCache(scratch / f"{name}-cache-{round_}", timeout=120)
        clone = scratch / f"{name}-clone-{round_}"
        samples.append(one_round(url, cli_url, auth, work, cache, clone))
        packs.append(cache.stats.pack_bytes)
        shutil.rmtree(clone)
    print(f"  {name}: tether received {statistics.median(packs) / 1024:.0f} KiB of packs per round")
    return {
        case: (
            statistics.median(s[case][0] for s in samples),
            statistics.median(s[case][1] for s in samples),
        )
        for case in samples[0]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--commits", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tether-bench-fetch-"))
    daemon = None
    http = None
    try:
        base = scratch / "served"
        base.mkdir()
        started = time.perf_counter()
        build_repo(base, scratch / "work", args.files, args.commits)
        print(
            f"repo: {args.files} files, {args.commits} commits, built in {time.perf_counter() - started:.1f}s"
        )
        daemon, port = start_git_daemon(base)
        http = HttpGitServer(base)
        http.start()
        creds = f"{http.username}:{http.password}@"
        results = {
            "git://": run_transport(
                "git",
                f"git://127.0.0.1:{port}/bench.git",
                f"git://127.0.0.1:{port}/bench.git",
                {},
                scratch / "work",
                args.rounds,
                scratch,
            ),
            "http": run_transport(
                "http",
                f"{http.url}/bench.git",
                f"http://{creds}127.0.0.1:{http.port}/bench.git",
                {"username": http.username, "password": http.password},
                scratch / "work",
                args.rounds,
                scratch,
            ),
        }
        print(
            f"\nmedian of {args.rounds} rounds (ms); ratio = tether / git CLI (lower is better for tether)"
        )
        print(f"{'transport':<10} {'case':<10} {'tether':>9} {'git CLI':>9} {'ratio':>7}")
        for transport, cases in results.items():
            for case, (ours, theirs) in cases.items():
                print(
                    f"{transport:<10} {case:<10} {ours * 1000:9.1f} {theirs * 1000:9.1f} {ours / theirs:7.2f}"
                )
    finally:
        if http is not None:
            http.stop()
        if daemon is not None:
            stop(daemon)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
