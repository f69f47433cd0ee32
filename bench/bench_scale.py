"""Scale: the issue's table from one command, for N apps on one replica and on K shards.

On one local control plane, one after the other:

1. the baseline ``kubectl apply`` of the apps' N x M objects;
2. one replica (``tether run -n bench-one``) and N Applications (interval
   ``--interval``): time until all are Synced+Healthy (from a raw watch, not a
   listing: a listing of 10,000 apps costs the API server seconds), its RSS and
   CPU; then the API requests it makes in one idle interval; then live edit ->
   OutOfSync and live edit -> healed (selfHeal) latencies over ``--edits`` apps;
3. with ``--shards K`` (K > 1): K shard processes (``tether run -n bench-shards
   --shards K``) and the same N Applications in their own namespace: time until
   all are Synced+Healthy and claimed, and the RSS of each shard;
4. SIGKILL of one shard: time until every app it held is claimed by a survivor
   (also in lease periods), then a live edit on one of them and the time until
   selfHeal put Git's value back.

It ends with the rows of the issue's table, as ratios in this one run.

    .venv/bin/python bench/bench_scale.py --apps 200 --interval 30
    .venv/bin/python bench/bench_scale.py --apps 1000 --interval 30
    .venv/bin/python bench/bench_scale.py --apps 10000 --interval 120
    .venv/bin/python bench/bench_scale.py --apps 3000 --shards 3 --interval 60 --lease 15 --renew 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_operator import (
    DEFAULT_PROJECT,
    WRITE_VERBS,
    api_requests,
    applications,
    bench_world,
    cpu_seconds,
    edit_latencies,
    healed,
    kubectl,
    launch_operator,
    make_repo,
    objects_yaml,
    out_of_sync,
    pct,
    rss_mib,
    stop_operator,
)
from tether.sharding.claims import CLAIM_ANNOTATION
from tether.tools import find_tool

ONE, SHARDED = "bench-one", "bench-shards"


def app_state(obj: dict[str, Any]) -> tuple[bool, str]:
    """An Application's (Synced and Healthy, claiming shard)."""
    status = obj.get("status") or {}
    ok = (status.get("sync") or {}).get("status") == "Synced" and (status.get("health") or {}).get(
        "status"
    ) == "Healthy"
    return ok, ((obj.get("metadata") or {}).get("annotations") or {}).get(CLAIM_ANNOTATION, "")


def states(kubeconfig: Path, ns: str) -> dict[str, tuple[bool, str]]:
    """app name -> (Synced and Healthy, claiming shard)."""
    doc = json.loads(kubectl(kubeconfig, "get", "applications.tether.dev", "-n", ns, "-o", "json"))
    return {item["metadata"]["name"]: app_state(item) for item in doc["items"]}


def wait(what: str, check: Any, timeout: float, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def converge(
    kubeconfig: Path, ns: str, apps: int, url: str, *, claimed: bool, interval: str, edits: int
) -> float:
    """Apply the apps (the last ``edits`` with selfHeal) and time them to Synced+Healthy."""
    watch = AppWatch(kubeconfig, ns)
    try:
        started = time.perf_counter()
        docs = applications(apps, url, interval, heal_from=apps - edits, ns=ns)
        asyncio.run(create_all(kubeconfig, json.loads(docs)["items"]))
        wait(
            f"{apps} apps in {ns} Synced+Healthy",
            lambda: watch.done(apps, claimed=claimed),
            timeout=3600,
            every=0.2,
        )
        return time.perf_counter() - started
    finally:
        watch.stop()


async def create_all(kubeconfig: Path, docs: list[dict[str, Any]], concurrency: int = 16) -> None:
    """Create the Repository, then the Applications, at bounded concurrency: a ``kubectl
    apply`` of 10,000 Applications, one after the other, takes minutes of the clock."""
    from tether.controller.kubeio import APPLICATIONS, REPOSITORIES
    from tether.kube.client import KubeClient

    client = await KubeClient.connect(str(kubeconfig))
    gate = asyncio.Semaphore(concurrency)

    async def one(doc: dict[str, Any]) -> None:
        res = REPOSITORIES if doc["kind"] == "Repository" else APPLICATIONS
        async with gate:
            await client.create(res, doc, namespace=doc["metadata"]["namespace"])

    try:
        await one(docs[0])
        await asyncio.gather(*(one(doc) for doc in docs[1:]))
    finally:
        await client.close()


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        stop_operator(proc)


class AppWatch:
    """Each Application's latest (Synced and Healthy, claiming shard), and when each was
    first seen claimed by one of ``wanted``, from a raw watch (re-listed if it ends)."""

    def __init__(self, kubeconfig: Path, ns: str) -> None:
        self.kubeconfig = kubeconfig
        self.path = f"/apis/tether.dev/v1alpha1/namespaces/{ns}/applications"
        self.wanted: set[str] = set()
        self.claimed_at: dict[str, float] = {}
        self.state: dict[str, tuple[bool, str]] = {}
        self._lock = threading.Lock()
        self._stopped = False
        self._process: subprocess.Popen[str] | None = None
        self._rv = self._list()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _list(self) -> str:
        listed = json.loads(kubectl(self.kubeconfig, "get", "--raw", self.path))
        for item in listed["items"]:
            self._see(item)
        return str(listed["metadata"]["resourceVersion"])

    def _see(self, obj: dict[str, Any]) -> None:
        ok, claim = app_state(obj)
        name = str((obj.get("metadata") or {}).get("name"))
        with self._lock:
            self.state[name] = (ok, claim)
            if claim in self.wanted:
                self.claimed_at.setdefault(name, time.perf_counter())

    def _follow(self) -> None:
        argv = [find_tool("kubectl"), f"--kubeconfig={self.kubeconfig}", "get", "--raw"]
        while not self._stopped:
            url = f"{self.path}?watch=1&allowWatchBookmarks=true&resourceVersion={self._rv}"
            self._process = subprocess.Popen([*argv, url], stdout=subprocess.PIPE, text=True)
            assert self._process.stdout is not None
            for line in self._process.stdout:
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    break  # expired: list again
                self._rv = str((obj.get("metadata") or {}).get("resourceVersion", self._rv))
                if event.get("type") in ("ADDED", "MODIFIED"):
                    self._see(obj)
            self._process.wait()
            if not self._stopped:
                self._rv = self._list()

    def done(self, apps: int, *, claimed: bool) -> bool:
        with self._lock:
            seen = list(self.state.values())
        return len(seen) == apps and all(ok and (c or not claimed) for ok, c in seen)

    def stop(self) -> None:
        self._stopped = True
        if self._process is not None:
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
    watch = AppWatch(kubeconfig, SHARDED)
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


def control_plane_cpu(tmp: Path) -> float:
    """CPU seconds used so far by the local control plane: the etcd and kube-* processes
    whose command line names the bench's cluster folder (the operators and the bench's
    kubectl name its kubeconfig too, and are not counted)."""
    needle = str(tmp / "cluster").encode()
    total = 0.0
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and (entry / "comm").read_text().startswith(("etcd", "kube-"))
                and needle in (entry / "cmdline").read_bytes()
            ):
                total += cpu_seconds(int(entry.name))
        except OSError:
            continue  # exited meanwhile
    return total


@dataclass(frozen=True)
class Single:
    """What one replica measured."""

    converge: float
    rss_ready: float
    rss: float
    cpu: float
    cluster_cpu: float
    idle: dict[str, float]
    idle_window: float
    lat: list[float]
    heal: list[float]


def run_single(kubeconfig: Path, tmp: Path, url: str, args: argparse.Namespace) -> Single:
    """Steps 2: one replica converges, idles for an interval, and heals live edits."""
    one, port = launch_operator(kubeconfig, tmp, "one", [f"--namespace={ONE}", *common(args)])
    try:
        time.sleep(3)  # let the informers' first lists settle
        rss_ready, cpu_before = rss_mib(one.pid), cpu_seconds(one.pid)
        cluster_before = control_plane_cpu(tmp)
        took = converge(
            kubeconfig, ONE, args.apps, url, claimed=False,
            interval=f"{args.interval}s", edits=args.edits,
        )  # fmt: skip
        rss, cpu = rss_mib(one.pid), cpu_seconds(one.pid) - cpu_before
        cluster_cpu = control_plane_cpu(tmp) - cluster_before
        time.sleep(3)  # let the last watch events settle
        before = api_requests(port)
        window = args.interval * 1.1  # every app's interval passes once in it
        time.sleep(window)
        after = api_requests(port)
        idle = {v: after.get(v, 0) - before.get(v, 0) for v in set(after) | set(before)}
        lat = asyncio.run(edit_latencies(kubeconfig, range(args.edits), out_of_sync, ONE))
        heal_from = range(args.apps - args.edits, args.apps)
        heal = asyncio.run(edit_latencies(kubeconfig, heal_from, healed, ONE))
        return Single(
            took,
            rss_ready,
            rss,
            cpu,
            cluster_cpu,
            {v: n for v, n in idle.items() if n},
            window,
            lat,
            heal,
        )
    finally:
        stop_all([one])  # the shards get the machine to themselves


def common(args: argparse.Namespace) -> tuple[str, ...]:
    return (f"--concurrency={args.concurrency}",)


def ms(values: list[float], q: float) -> str:
    return f"{pct(values, q) * 1000:.0f} ms"


def print_single(args: argparse.Namespace, baseline: float, one: Single) -> None:
    writes = sum(n for v, n in one.idle.items() if v.split("-")[0] in WRITE_VERBS)
    n = args.apps
    print(f"apps={n} objects/app={args.objects} concurrency/process={args.concurrency}")
    print(f"| {n:,} apps x {args.objects} objects to all Synced+Healthy, against "
          f"`kubectl apply` of the same {n * args.objects:,} objects | {one.converge:.1f} s / "
          f"{baseline:.1f} s = **{one.converge / baseline:.2f}x** |")  # fmt: skip
    print(f"| operator RSS at {n:,} apps (ready with no apps) | **{one.rss:.1f} MiB** "
          f"({one.rss_ready:.1f} MiB; {(one.rss - one.rss_ready) * 1024 / n:.1f} KiB per app) |")  # fmt: skip
    print(f"| CPU to converge: operator / control plane (cores busy over the converge) | "
          f"{one.cpu:.1f} s ({one.cpu * 1000 / n:.1f} ms per app) / {one.cluster_cpu:.1f} s "
          f"({(one.cpu + one.cluster_cpu) / one.converge:.2f} of {os.cpu_count()}) |")  # fmt: skip
    print(f"| requests in an idle interval ({one.idle_window:.0f} s) | "
          f"**{sum(one.idle.values()):g}** ({writes:g} writes) {one.idle or ''} |")  # fmt: skip
    print(f"| live edit -> OutOfSync, {len(one.lat)} edits, p50 / p95 | "
          f"**{ms(one.lat, 0.5)} / {ms(one.lat, 0.95)}** |")  # fmt: skip
    print(f"| selfHeal, live edit -> Git's value back, p50 / p95 | "
          f"**{ms(one.heal, 0.5)} / {ms(one.heal, 0.95)}** |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=300)
    parser.add_argument("--objects", type=int, default=5)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument(
        "--concurrency", type=int, default=32, help="workers per process (tether run's default)"
    )
    parser.add_argument(
        "--interval", type=int, default=60, help="apps' interval = the idle window, seconds"
    )
    parser.add_argument("--edits", type=int, default=5, help="live edits timed (each kind)")
    parser.add_argument("--lease", type=int, default=5, help="shard lease duration, seconds")
    parser.add_argument("--renew", type=float, default=1.0, help="shard renew period, seconds")
    args = parser.parse_args()
    args.edits = min(args.edits, args.apps // 2)

    procs: list[subprocess.Popen[bytes]] = []
    with bench_world("tether-bench-scale-", None) as world:
        kubeconfig, tmp = world.kubeconfig, world.tmp
        try:
            make_repo(world.git_root, args.apps, args.objects)
            url = f"git://127.0.0.1:{world.git_port}/bench.git"
            for ns in (ONE, SHARDED, "bench-baseline"):
                kubectl(kubeconfig, "create", "namespace", ns)
            kubectl(kubeconfig, "apply", "-f", "-", input=DEFAULT_PROJECT)
            baseline_objects = objects_yaml(args.apps, args.objects, "bench-baseline")
            cluster_before, started = control_plane_cpu(tmp), time.perf_counter()
            kubectl(kubeconfig, "apply", "-f", "-", input=baseline_objects, timeout=7200)
            baseline = time.perf_counter() - started
            baseline_cpu = control_plane_cpu(tmp) - cluster_before

            one = run_single(kubeconfig, tmp, url, args)
            print_single(args, baseline, one)
            print(f"| control plane CPU: serving `kubectl apply` / serving the converge | "
                  f"{baseline_cpu:.1f} s / {one.cluster_cpu:.1f} s = "
                  f"{one.cluster_cpu / baseline_cpu:.2f}x |")  # fmt: skip
            if args.shards < 2:
                return
            run_shards(kubeconfig, tmp, url, args, one, procs)
        finally:
            stop_all(procs)


def run_shards(
    kubeconfig: Path,
    tmp: Path,
    url: str,
    args: argparse.Namespace,
    one: Single,
    procs: list[subprocess.Popen[bytes]],
) -> None:
    """Steps 3 and 4: K shards converge the same apps (all with selfHeal, so a moved app
    heals), then one is SIGKILLed."""
    shards: dict[str, subprocess.Popen[bytes]] = {}
    for i in range(args.shards):
        name = f"shard-{i}"
        shards[name], _port = launch_operator(
            kubeconfig, tmp, name,
            [f"--namespace={SHARDED}", *common(args), f"--shards={args.shards}",
             f"--shard-id={name}", f"--shard-lease-duration={args.lease}",
             f"--shard-renew-period={args.renew}"],
        )  # fmt: skip
        procs.append(shards[name])
    cpu_before = sum(cpu_seconds(p.pid) for p in shards.values()), control_plane_cpu(tmp)
    sharded = converge(
        kubeconfig, SHARDED, args.apps, url, claimed=True, interval="5m", edits=args.apps
    )
    rss = {name: rss_mib(proc.pid) for name, proc in shards.items()}
    cpu = sum(cpu_seconds(p.pid) for p in shards.values()) - cpu_before[0]
    cluster_cpu = control_plane_cpu(tmp) - cpu_before[1]
    first, recovered, heal, moved = kill_one(kubeconfig, shards, args.lease)
    print(f"| {args.shards} shards against 1 replica on {args.apps:,} apps: converge | "
          f"{sharded:.1f} s / {one.converge:.1f} s = **{sharded / one.converge:.2f}x** |")  # fmt: skip
    print(f"| CPU to converge: shards / control plane (cores busy) | {cpu:.1f} s / "
          f"{cluster_cpu:.1f} s ({(cpu + cluster_cpu) / sharded:.2f} of {os.cpu_count()}) |")  # fmt: skip
    print("| RSS per shard (" + ", ".join(f"{n} {v:.1f} MiB" for n, v in rss.items())
          + f") against {one.rss:.1f} MiB | largest **{max(rss.values()) / one.rss:.2f}x** |")  # fmt: skip
    print(f"| SIGKILL of one shard ({moved} apps, lease {args.lease} s, renew {args.renew:g} s): "
          f"first / last app claimed by a survivor | {first:.2f} s / {recovered:.2f} s = "
          f"**{recovered / args.lease:.2f} lease periods**; a live edit on a moved app healed "
          f"in {heal * 1000:.0f} ms (kubectl polling) |")  # fmt: skip


if __name__ == "__main__":
    main()
