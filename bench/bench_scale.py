"""Scale: one replica against K shards on the same apps, and a shard killed.

With ``--shards K`` (K > 1) it runs, on one local control plane, one after the other:

1. the baseline ``kubectl apply`` of the apps' objects;
2. one replica (``tether run -n bench-one``) and N Applications: time until all
   are Synced+Healthy, and its RSS;
3. K shard processes (``tether run -n bench-shards --shards K``) and the same N
   Applications in their own namespace: time until all are Synced+Healthy and
   claimed, and the RSS of each shard;
4. SIGKILL of one shard: time until every app it held is claimed by a survivor
   (also in lease periods), then a live edit on one of them and the time until
   selfHeal put Git's value back.

It prints the rows of the issue's table as ratios against the single replica. Without
``--shards`` only steps 1 and 2 run.

    .venv/bin/python bench/bench_scale.py --apps 300 --shards 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_operator import (
    DEFAULT_PROJECT,
    ROOT,
    applications,
    free_port,
    kubectl,
    make_repo,
    objects_yaml,
    rss_mib,
    start_git_daemon,
    stop,
)
from tether.sharding.claims import CLAIM_ANNOTATION
from tether.tools import find_tool

ONE, SHARDED = "bench-one", "bench-shards"


def states(kubeconfig: Path, ns: str) -> dict[str, tuple[bool, str]]:
    """app name -> (Synced and Healthy, claiming shard)."""
    doc = json.loads(kubectl(kubeconfig, "get", "applications.tether.dev", "-n", ns, "-o", "json"))
    out = {}
    for item in doc["items"]:
        status = item.get("status") or {}
        ok = (status.get("sync") or {}).get("status") == "Synced" and (
            status.get("health") or {}
        ).get("status") == "Healthy"
        claim = (item["metadata"].get("annotations") or {}).get(CLAIM_ANNOTATION, "")
        out[item["metadata"]["name"]] = (ok, claim)
    return out


def wait(what: str, check: Any, timeout: float, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def start(
    kubeconfig: Path, tmp: Path, name: str, *args: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    folder = tmp / name
    folder.mkdir()
    log = open(folder / "operator.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("tether")),
            "run",
            f"--kubeconfig={kubeconfig}",
            "--metrics-host=127.0.0.1",
            f"--metrics-port={port}",
            f"--cache-dir={folder / 'cache'}",
            "--log-level=warning",
            *args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, port


def ready(proc: subprocess.Popen[bytes], port: int) -> bool:
    if proc.poll() is not None:
        raise SystemExit(f"an operator exited with {proc.returncode}")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
            return True
    except OSError:
        return False


def converge(kubeconfig: Path, ns: str, apps: int, url: str, claimed: bool) -> float:
    started = time.perf_counter()
    kubectl(kubeconfig, "apply", "-f", "-", input=applications(apps, url, "5m", heal_from=0, ns=ns))

    def done() -> bool:
        seen = states(kubeconfig, ns)
        return len(seen) == apps and all(ok and (c or not claimed) for ok, c in seen.values())

    wait(f"{apps} apps in {ns} Synced+Healthy", done, timeout=1800)
    return time.perf_counter() - started


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


class ClaimWatch:
    """When each Application was first seen claimed by one of ``wanted`` shards, from a
    raw watch (a kubectl listing of hundreds of apps takes seconds on a loaded machine)."""

    def __init__(self, kubeconfig: Path, ns: str) -> None:
        argv = [find_tool("kubectl"), f"--kubeconfig={kubeconfig}", "get", "--raw"]
        path = f"/apis/tether.dev/v1alpha1/namespaces/{ns}/applications"
        listed = json.loads(kubectl(kubeconfig, "get", "--raw", path))
        rv = listed["metadata"]["resourceVersion"]
        self.wanted: set[str] = set()
        self.claimed_at: dict[str, float] = {}
        self._process = subprocess.Popen(
            [*argv, f"{path}?watch=1&resourceVersion={rv}"], stdout=subprocess.PIPE, text=True
        )
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            obj = json.loads(line).get("object") or {}
            meta = obj.get("metadata") or {}
            claim = (meta.get("annotations") or {}).get(CLAIM_ANNOTATION, "")
            if claim in self.wanted:
                self.claimed_at.setdefault(str(meta.get("name")), time.perf_counter())

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(10)


def kill_one(
    kubeconfig: Path, shards: dict[str, subprocess.Popen[bytes]], lease: int
) -> tuple[float, float, float, int]:
    """SIGKILL the shard holding most apps. Returns the seconds from the kill until a
    survivor claimed the first and the last of its apps, the seconds until a live edit
    on one of them was healed, and how many apps moved."""
    held = states(kubeconfig, SHARDED)
    counts = {s: sum(1 for _ok, c in held.values() if c == s) for s in shards}
    victim = max(counts, key=lambda s: counts[s])
    moved = [n for n, (_ok, c) in held.items() if c == victim]
    watch = ClaimWatch(kubeconfig, SHARDED)
    watch.wanted = set(shards) - {victim}
    try:
        killed = time.perf_counter()
        shards[victim].send_signal(signal.SIGKILL)
        shards[victim].wait(10)
        wait(
            f"the apps of {victim} claimed by the survivors",
            lambda: all(n in watch.claimed_at for n in moved),
            timeout=20 * lease,
            every=0.1,
        )
        times = [watch.claimed_at[n] - killed for n in moved]
    finally:
        watch.stop()
    cm = f"{moved[0]}-cm0"
    kubectl(kubeconfig, "patch", "configmap", cm, "-n", SHARDED, "-p", '{"data":{"index":"x"}}')
    edited = time.perf_counter()

    def healed() -> bool:
        doc = json.loads(kubectl(kubeconfig, "get", "configmap", cm, "-n", SHARDED, "-o", "json"))
        return bool(doc["data"]["index"] == "0")

    wait(f"the live edit of {cm} healed", healed, timeout=120, every=0.1)
    return min(times), max(times), time.perf_counter() - edited, len(moved)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=300)
    parser.add_argument("--objects", type=int, default=5)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8, help="workers per process")
    parser.add_argument("--lease", type=int, default=5, help="shard lease duration, seconds")
    parser.add_argument("--renew", type=float, default=1.0, help="shard renew period, seconds")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tether-bench-scale-"))
    from tether.localcluster import LocalCluster

    cluster = LocalCluster.start(tmp / "cluster", nodes=1, die_with_parent=True)
    kubeconfig = cluster.kubeconfig
    (tmp / "git").mkdir()
    gitd, port = start_git_daemon(tmp / "git")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        make_repo(tmp / "git", args.apps, args.objects)
        url = f"git://127.0.0.1:{port}/bench.git"
        kubectl(kubeconfig, "apply", "--server-side", "-f", str(ROOT / "charts/tether/crds"))
        for ns in (ONE, SHARDED, "bench-baseline"):
            kubectl(kubeconfig, "create", "namespace", ns)
        kubectl(kubeconfig, "apply", "-f", "-", input=DEFAULT_PROJECT)
        started = time.perf_counter()
        baseline_objects = objects_yaml(args.apps, args.objects, "bench-baseline")
        kubectl(kubeconfig, "apply", "-f", "-", input=baseline_objects)
        baseline = time.perf_counter() - started

        common = (f"--concurrency={args.concurrency}",)
        one, one_port = start(kubeconfig, tmp, "one", f"--namespace={ONE}", *common)
        procs.append(one)
        wait("the single replica to be ready", lambda: ready(one, one_port), timeout=120)
        single = converge(kubeconfig, ONE, args.apps, url, claimed=False)
        single_rss = rss_mib(one.pid)
        stop_all([one])  # the shards get the machine to themselves
        print(f"apps={args.apps} objects/app={args.objects} concurrency/process={args.concurrency}")
        print(f"baseline kubectl apply of {args.apps * args.objects} objects: {baseline:.2f} s")
        print(
            f"1 replica: converge {single:.2f} s ({single / baseline:.2f}x kubectl), "
            f"RSS {single_rss:.1f} MiB"
        )
        if args.shards < 2:
            return

        shards: dict[str, subprocess.Popen[bytes]] = {}
        ports = {}
        for i in range(args.shards):
            name = f"shard-{i}"
            shards[name], ports[name] = start(
                kubeconfig, tmp, name, f"--namespace={SHARDED}", *common,
                f"--shards={args.shards}", f"--shard-id={name}",
                f"--shard-lease-duration={args.lease}", f"--shard-renew-period={args.renew}",
            )  # fmt: skip
            procs.append(shards[name])
        for name, proc in shards.items():
            wait(f"{name} to be ready", lambda p=proc, n=name: ready(p, ports[n]), timeout=120)
        sharded = converge(kubeconfig, SHARDED, args.apps, url, claimed=True)
        rss = {name: rss_mib(proc.pid) for name, proc in shards.items()}
        first, recovered, healed, moved = kill_one(kubeconfig, shards, args.lease)

        print(
            f"{args.shards} shards: converge {sharded:.2f} s = {sharded / single:.2f}x the single "
            f"replica (goal <= 0.6x)"
        )
        print(
            "RSS per shard: "
            + ", ".join(f"{n} {v:.1f} MiB" for n, v in rss.items())
            + f"; largest = {max(rss.values()) / single_rss:.2f}x the single replica (goal <= 0.45x)"
        )
        print(
            f"SIGKILL of one shard ({moved} apps, lease {args.lease} s, renew {args.renew:g} s): "
            f"the first claimed by a survivor after {first:.2f} s, all after {recovered:.2f} s "
            f"= {recovered / args.lease:.2f} lease periods (goal <= 2); a live edit on a moved "
            f"app healed in {healed * 1000:.0f} ms (kubectl polling)"
        )
    finally:
        stop_all(procs)
        stop(gitd)
        cluster.stop()
        if os.environ.get("KEEP_BENCH_DIR") is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
