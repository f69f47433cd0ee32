"""Bench the engine against a real control plane, all in one run.

Usage: python bench/bench_sync.py [--kubeconfig F] [--objects 1000] [--rounds 2] [--only-cold]

Without --kubeconfig it starts the local control plane (tether.localcluster).
Prints, as JSON lines:
* cold sync of N objects (ConfigMaps, Services, Deployments) by tether,
  alternating with ``kubectl apply -f`` and ``kubectl apply --server-side`` on
  the same files, each in a fresh namespace; ratios tether / kubectl;
* the raw write limit: the same N objects as plain parallel POSTs (tether's own
  HTTP client, no cache, no diff, no discovery) at concurrency 8, 32 and 64, each
  in a fresh namespace; the ratio of tether's cold sync to the fastest of them;
* a no-op diff of the N synced objects: write and dry-run requests (target 0),
  CPU time with a warm cache (target < 50 ms);
* drift latency from a live edit to the cache callback, p50/p95 over 50 edits;
* RSS with 5,000 cached objects, and the cache's own byte estimate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from tether.appspec import AppSpec, spec_from_flags
from tether.engine import Engine
from tether.kube.client import KubeClient
from tether.kube.resource import GVK, ApiResource
from tether.tools import find_tool


def objects(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        name = f"obj-{i:05d}"
        kind = i % 3
        if kind == 0:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name},
                    "data": {"key": f"value-{i}", "other": "x" * 64},
                }
            )
        elif kind == 1:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": name},
                    "spec": {
                        "selector": {"app": name},
                        "ports": [{"port": 80, "targetPort": 8080}],
                    },
                }
            )
        else:
            out.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": name},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": {"app": name}},
                        "template": {
                            "metadata": {"labels": {"app": name}},
                            "spec": {
                                "containers": [
                                    {
                                        "name": "main",
                                        "image": "nginx:1.25",
                                        "ports": [{"containerPort": 8080}],
                                        "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
                                    }
                                ]
                            },
                        },
                    },
                }
            )
    return out


def kubectl(kubeconfig: str, *args: str) -> None:
    subprocess.run(
        [find_tool("kubectl"), f"--kubeconfig={kubeconfig}", *args],
        check=True,
        capture_output=True,
        timeout=900,
    )


def write_files(folder: Path, objs: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, obj in enumerate(objs):
        (folder / f"{i:05d}.json").write_text(json.dumps(obj))


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


async def cold_sync(engine: Engine, ns: str, objs: list[dict[str, Any]]) -> float:
    app = spec_from_flags(app="bench", namespace=ns, health_timeout=600)
    started = time.perf_counter()
    state = await engine.sync(app, objs)
    elapsed = time.perf_counter() - started
    if state.phase.value != "Succeeded":
        raise SystemExit(f"tether sync failed: {state.message}")
    return elapsed


RAW_CONCURRENCY = (8, 32, 64)
RAW_RESOURCES = {
    "ConfigMap": ApiResource("", "v1", "ConfigMap", "configmaps", True),
    "Service": ApiResource("", "v1", "Service", "services", True),
    "Deployment": ApiResource("apps", "v1", "Deployment", "deployments", True),
}


async def raw_posts(
    kubeconfig: str, ns: str, objs: list[dict[str, Any]], concurrency: int
) -> float:
    """The write limit: one POST per object, ``concurrency`` in flight, nothing else."""
    client = await KubeClient.connect(kubeconfig)
    gate = asyncio.Semaphore(concurrency)

    async def post(obj: dict[str, Any]) -> None:
        async with gate:
            await client.create(RAW_RESOURCES[obj["kind"]], obj, namespace=ns)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(post(obj) for obj in objs))
        return time.perf_counter() - started
    finally:
        await client.close()


def timed_kubectl(kubeconfig: str, ns: str, folder: Path, *extra: str) -> float:
    started = time.perf_counter()
    kubectl(kubeconfig, "apply", "-n", ns, "-f", str(folder), *extra)
    return time.perf_counter() - started


async def bench_cold(kubeconfig: str, n: int, rounds: int, folder: Path) -> str:
    objs = objects(n)
    write_files(folder, objs)
    raw = [f"raw-{c}" for c in RAW_CONCURRENCY]
    tools = ("tether", *raw, "kubectl", "kubectl-ssa")
    times: dict[str, list[float]] = {tool: [] for tool in tools}
    last_ns = ""
    for _ in range(rounds):
        for tool in tools:
            ns = f"bench-{tool}-{uuid.uuid4().hex[:6]}"
            kubectl(kubeconfig, "create", "namespace", ns)
            if tool.startswith("raw-"):
                times[tool].append(await raw_posts(kubeconfig, ns, objs, int(tool[4:])))
            elif tool == "tether":
                engine = await Engine.connect(kubeconfig)
                try:
                    times[tool].append(await cold_sync(engine, ns, objs))
                finally:
                    await engine.close()
                last_ns = ns
            elif tool == "kubectl":
                times[tool].append(timed_kubectl(kubeconfig, ns, folder))
            else:
                times[tool].append(timed_kubectl(kubeconfig, ns, folder, "--server-side"))
    best = {k: min(v) for k, v in times.items()}
    emit(
        bench="cold-sync",
        objects=n,
        rounds=rounds,
        seconds={k: [round(x, 2) for x in v] for k, v in times.items()},
        ratio_vs_kubectl_apply=round(best["tether"] / best["kubectl"], 3),
        ratio_vs_kubectl_ssa=round(best["tether"] / best["kubectl-ssa"], 3),
        target="tether <= 0.5x kubectl apply -f",
    )
    fastest = min(raw, key=lambda tool: best[tool])
    emit(
        bench="cold-sync-vs-raw-writes",
        objects=n,
        raw_best={tool: round(best[tool], 2) for tool in raw},
        fastest=fastest,
        ratio_vs_raw_writes=round(best["tether"] / best[fastest], 3),
        target="tether <= 1.2x the fastest plain parallel POSTs",
    )
    return last_ns


async def bench_noop_and_drift(kubeconfig: str, ns: str, n: int) -> None:
    engine = await Engine.connect(kubeconfig)
    objs = objects(n)
    app = spec_from_flags(app="bench", namespace=ns)
    try:
        await engine.diff(app, objs, revision="r1")  # warms discovery, OpenAPI, cache, memo
        engine.client.counter.reset()
        cpu = []
        for _ in range(5):
            started = time.process_time()
            report = await engine.diff(app, objs, revision="r1")
            cpu.append(time.process_time() - started)
        counter = engine.client.counter
        emit(
            bench="noop-diff",
            objects=n,
            in_sync=report.in_sync,
            requests=sum(counter.snapshot().values()),
            writes=counter.writes,
            dry_runs=counter.dry_runs,
            cpu_ms_best=round(min(cpu) * 1000, 1),
            cpu_ms_median=round(statistics.median(cpu) * 1000, 1),
            target="0 writes/dry-runs, < 50 ms CPU",
        )
        await drift_latency(engine, app, kubeconfig, ns)
    finally:
        await engine.close()


async def drift_latency(engine: Engine, app: AppSpec, kubeconfig: str, ns: str) -> None:
    seen: dict[str, float] = {}
    wanted: dict[str, asyncio.Event] = {}

    def on_event(event: Any) -> None:
        name = event.key[3]
        obj = event.obj or {}
        marker = ((obj.get("metadata") or {}).get("annotations") or {}).get("bench/edit")
        if marker and marker in wanted and marker not in seen:
            seen[marker] = time.perf_counter()
            wanted[marker].set()
        del name

    unsubscribe = engine.cache.subscribe(app.label, on_event)
    res = await engine.discovery.resource(GVK("", "v1", "ConfigMap"))
    latencies = []
    try:
        for i in range(50):
            marker = uuid.uuid4().hex
            wanted[marker] = asyncio.Event()
            patch = {"metadata": {"annotations": {"bench/edit": marker}}}
            started = time.perf_counter()
            await engine.client.patch(res, f"obj-{(i * 3) % 900:05d}", patch, namespace=ns)
            await asyncio.wait_for(wanted[marker].wait(), 10)
            latencies.append(seen[marker] - started)
    finally:
        unsubscribe()
    latencies.sort()
    emit(
        bench="drift-latency",
        edits=len(latencies),
        p50_ms=round(statistics.median(latencies) * 1000, 1),
        p95_ms=round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
        target="p50 < 1 s",
    )


async def bench_memory(kubeconfig: str, total: int) -> None:
    """Create ``total`` labelled ConfigMaps server-side, then cache them in a fresh engine."""
    ns = f"bench-mem-{uuid.uuid4().hex[:6]}"
    kubectl(kubeconfig, "create", "namespace", ns)
    engine = await Engine.connect(kubeconfig)
    res = await engine.discovery.resource(GVK("", "v1", "ConfigMap"))
    gate = asyncio.Semaphore(16)

    async def make(i: int) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"mem-{i:05d}", "labels": {"tether.dev/app": f"{ns}_mem"}},
            "data": {"key": f"value-{i}", "other": "x" * 64},
        }
        async with gate:
            await engine.client.create(res, body, namespace=ns)

    await asyncio.gather(*(make(i) for i in range(total)))
    await engine.close()
    script = (
        "import asyncio,json,resource,sys\n"
        "from tether.engine import Engine\n"
        "from tether.kube.resource import GVK\n"
        "async def main():\n"
        "    e = await Engine.connect(sys.argv[1])\n"
        "    await e.cache.register('x', [GVK('','v1','ConfigMap'),GVK('','v1','Service'),GVK('apps','v1','Deployment')], timeout=300)\n"
        "    s = e.cache.stats()\n"
        "    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "    print(json.dumps({'objects': s.objects, 'approx_bytes': s.approx_bytes, 'rss_mib': round(rss, 1)}))\n"
        "    await e.close()\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, kubeconfig],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    emit(bench="memory", target_objects=total, **stats, target="< 150 MiB RSS with 5,000 objects")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", default=os.environ.get("TETHER_TEST_KUBECONFIG"))
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cached", type=int, default=5000)
    parser.add_argument("--only-cold", action="store_true", help="the cold-sync comparisons only")
    args = parser.parse_args()
    cluster = None
    kubeconfig = args.kubeconfig
    if not kubeconfig:
        from tether.localcluster import LocalCluster

        cluster = LocalCluster.start(Path(tempfile.mkdtemp(prefix="tether-bench-")), nodes=1)
        kubeconfig = str(cluster.kubeconfig)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ns = asyncio.run(bench_cold(kubeconfig, args.objects, args.rounds, Path(tmp)))
        if not args.only_cold:
            asyncio.run(bench_noop_and_drift(kubeconfig, ns, args.objects))
            asyncio.run(bench_memory(kubeconfig, args.cached))
        emit(
            bench="self",
            max_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        )
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
