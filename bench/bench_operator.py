"""Operator at scale: 200 Applications x 5 objects from one repository.

Prints:
- time from applying 200 Applications until all are Synced and Healthy, next to
  the baseline ``kubectl apply`` of the same 1,000 objects on the same server;
- the operator's RSS after convergence;
- the API requests the operator made during one idle Application interval after
  convergence (by verb; the target is zero writes);
- live edit -> OutOfSync in the status, p50 and p95 over N edits.

Runs a local control plane (or the cluster of --kubeconfig), a ``git daemon``
on 127.0.0.1 and ``tether run`` as a subprocess.

    .venv/bin/python bench/bench_operator.py [--apps 200] [--objects 5] [--edits 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "git"))

from git_servers import free_port, git, start_git_daemon, stop  # noqa: E402

from tether.tools import find_tool  # noqa: E402

NS = "bench-apps"
WRITE_VERBS = ("CREATE", "UPDATE", "PATCH", "APPLY", "DELETE")


def configmap(name: str, i: int) -> str:
    return f'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  index: "{i}"\n  payload: {"x" * 200}\n'


def make_repo(base: Path, apps: int, objects: int) -> Path:
    bare = base / "bench.git"
    git("init", "-q", "--bare", str(bare))
    work = base / "work"
    git("clone", "-q", str(bare), str(work))
    for a in range(apps):
        folder = work / "apps" / f"app{a:03d}"
        folder.mkdir(parents=True)
        for o in range(objects):
            (folder / f"cm{o}.yaml").write_text(configmap(f"app{a:03d}-cm{o}", o))
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "bench", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    return work


def kubectl(kubeconfig: Path, *args: str, input: str | None = None, timeout: float = 600) -> str:
    proc = subprocess.run(
        [find_tool("kubectl"), f"--kubeconfig={kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def api_requests_by_resource(port: int) -> dict[tuple[str, str], float]:
    """The operator's request counter by (VERB, resource), summed over HTTP codes."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if line.startswith("tether_api_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            verb = labels.split('verb="', 1)[1].split('"', 1)[0]
            # an operator from before the resource label counts under ""
            resource = labels.partition('resource="')[2].split('"', 1)[0]
            out[(verb, resource)] = out.get((verb, resource), 0) + float(value)
    return out


def operator_env(tracemalloc: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if tracemalloc is not None:
        env["TETHER_TRACEMALLOC"] = str(tracemalloc.resolve())
    return env


def dump_tracemalloc(pid: int, target: Path) -> None:
    """Ask the operator for its allocation dump (SIGUSR1) and wait for the file."""
    target.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    print(f"tracemalloc dump: {target if target.exists() else 'not written'}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far (less noisy than wall time here)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_requests(port: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for (verb, _resource), n in api_requests_by_resource(port).items():
        out[verb] = out.get(verb, 0) + n
    return out


def print_breakdown(
    before: dict[tuple[str, str], float], after: dict[tuple[str, str], float], apps: int
) -> None:
    """Requests from applying the Applications to convergence, per app, by verb and resource."""
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
    rows = sorted(((n, k) for k, n in delta.items() if n), reverse=True)
    total = sum(n for n, _ in rows)
    print(f"requests to converge: {total:g} ({total / apps:.2f} per app), by verb and resource:")
    for n, (verb, resource) in rows:
        print(f"  {verb:<14} {resource:<28} {n:8g}  {n / apps:6.2f}/app")


DEFAULT_PROJECT = """apiVersion: tether.dev/v1alpha1
kind: Project
metadata: {name: default}
spec:
  sourceRepositories: ["*"]
  destinations: ["$self"]
  applicationNamespaces: ["*"]
"""


def objects_yaml(apps: int, objects: int, ns: str) -> str:
    docs = []
    for a in range(apps):
        for o in range(objects):
            docs.append(
                configmap(f"app{a:03d}-cm{o}", o).replace(
                    "metadata:\n", f"metadata:\n  namespace: {ns}\n"
                )
            )
    return "---\n".join(docs)


def applications(apps: int, url: str, interval: str, heal_from: int, ns: str = NS) -> str:
    """A Repository ``bench`` at ``url`` and ``apps`` Applications following it, in ``ns``."""
    docs = [
        {
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "Repository",
            "metadata": {"name": "bench", "namespace": ns},
            "spec": {"url": url, "insecure": True, "interval": "1m"},
        }
    ]
    for a in range(apps):
        docs.append(
            {
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "Application",
                "metadata": {"name": f"app{a:03d}", "namespace": ns},
                "spec": {
                    "source": {
                        "repositoryRef": {"name": "bench"},
                        "revision": "main",
                        "path": f"apps/app{a:03d}",
                    },
                    "destination": {"namespace": ns},
                    "syncPolicy": {"automated": {"prune": True, "selfHeal": a >= heal_from}},
                    "interval": interval,
                },
            }
        )
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})


def app_states(kubeconfig: Path) -> list[tuple[str, str, str]]:
    doc = json.loads(kubectl(kubeconfig, "get", "applications.tether.dev", "-n", NS, "-o", "json"))
    out = []
    for item in doc["items"]:
        status = item.get("status") or {}
        out.append(
            (
                item["metadata"]["name"],
                (status.get("sync") or {}).get("status", ""),
                (status.get("health") or {}).get("status", ""),
            )
        )
    return out


async def edit_latencies(
    kubeconfig: Path,
    apps: Iterable[int],
    settled: Callable[[Any, Any, int, str], Awaitable[bool]],
    ns: str = NS,
) -> list[float]:
    """Per app: edit its first ConfigMap live, then time until ``settled`` says so."""
    from tether.kube.client import KubeClient
    from tether.kube.resource import ApiResource

    cms = ApiResource("", "v1", "ConfigMap", "configmaps", True)
    client = await KubeClient.connect(str(kubeconfig))
    out: list[float] = []
    try:
        for a in apps:
            await client.patch(
                cms, f"app{a:03d}-cm0", {"data": {"index": f"live-{a}"}}, namespace=ns
            )
            started = time.perf_counter()
            while not await settled(client, cms, a, ns):
                if time.perf_counter() - started > 30:
                    out.append(float("inf"))
                    break
                await asyncio.sleep(0.01)
            else:
                out.append(time.perf_counter() - started)
    finally:
        await client.close()
    return out


async def out_of_sync(client: Any, _cms: Any, a: int, ns: str) -> bool:
    """The app's status says OutOfSync."""
    from tether.controller.kubeio import APPLICATIONS

    body = await client.get(APPLICATIONS, f"app{a:03d}", ns)
    return ((body.get("status") or {}).get("sync") or {}).get("status") == "OutOfSync"


async def healed(client: Any, cms: Any, a: int, ns: str) -> bool:
    """selfHeal put Git's value back."""
    body = await client.get(cms, f"app{a:03d}-cm0", ns)
    return (body.get("data") or {}).get("index") == "0"


def launch_operator(
    kubeconfig: Path,
    tmp: Path,
    name: str,
    flags: list[str],
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """``tether run FLAGS`` logging to ``tmp/NAME.log``, once /readyz answers; and its
    metrics port."""
    port = free_port()
    log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("tether")),
            "run",
            f"--kubeconfig={kubeconfig}",
            "--metrics-host=127.0.0.1",
            f"--metrics-port={port}",
            f"--cache-dir={tmp / name}",
            "--log-level=warning",
            *flags,  # last: a flag given here wins
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 240
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return process, port
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"operator did not become ready; see {tmp / name}.log") from None
            time.sleep(0.2)


def start_profiler(pid: int, out: Path, tmp: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the operator (raw, collapsed stacks) until stopped with SIGINT."""
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "50",
            "--output",
            str(tmp / "profile.txt"),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_profiler(spy: subprocess.Popen[bytes], out: Path, tmp: Path) -> None:
    """Stop py-spy and write self time and inclusive time of the top functions to ``out``."""
    import signal

    spy.send_signal(signal.SIGINT)
    spy.wait(60)
    self_time: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    samples = 0
    for line in (tmp / "profile.txt").read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        samples += n
        frames = stack.split(";")
        self_time[frames[-1]] = self_time.get(frames[-1], 0) + n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
    lines = [f"samples: {samples}", "", "self time (top 40):"]
    for frame, n in sorted(self_time.items(), key=lambda kv: -kv[1])[:40]:
        lines.append(f"  {100 * n / samples:5.1f}%  {frame}")
    lines += ["", "inclusive time (top 80):"]
    for frame, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:80]:
        lines.append(f"  {100 * n / samples:5.1f}%  {frame}")
    out.write_text("\n".join(lines) + "\n")
    (tmp / "profile.txt").replace(out.with_suffix(".raw.txt"))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(frozen=True)
class BenchWorld:
    """A bench's cluster (local unless a kubeconfig is given) and git daemon."""

    tmp: Path
    kubeconfig: Path
    git_root: Path
    git_port: int


@contextlib.contextmanager
def bench_world(prefix: str, kubeconfig: Path | None) -> Iterator[BenchWorld]:
    """Start the cluster and git daemon, with Tether's CRDs; stop and clean up after.

    The temp folder is kept when KEEP_BENCH_DIR is set.
    """
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    cluster = None
    if kubeconfig is None:
        from tether.localcluster import LocalCluster

        cluster = LocalCluster.start(tmp / "cluster", nodes=1, die_with_parent=True)
        kubeconfig = cluster.kubeconfig
    (tmp / "git").mkdir()
    gitd, port = start_git_daemon(tmp / "git")
    try:
        crds = str(ROOT / "charts" / "tether" / "crds")
        kubectl(kubeconfig, "apply", "--server-side", "-f", crds)
        yield BenchWorld(tmp, kubeconfig, tmp / "git", port)
    finally:
        stop(gitd)
        if cluster is not None:
            cluster.stop()
        if os.environ.get("KEEP_BENCH_DIR") is None:
            shutil.rmtree(tmp, ignore_errors=True)


def stop_operator(operator: subprocess.Popen[Any] | None) -> None:
    """SIGTERM the operator, then SIGKILL it if it has not exited within 20 s."""
    if operator is None or operator.poll() is not None:
        return
    operator.terminate()
    try:
        operator.wait(20)
    except subprocess.TimeoutExpired:
        operator.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--objects", type=int, default=5)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument(
        "--idle", type=float, default=60.0, help="seconds of idle measurement (= app interval)"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--kubeconfig", type=Path, default=None)
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="record the operator with py-spy from the Applications' apply to convergence "
        "and write its top functions to this file (needs py-spy in the venv)",
    )
    parser.add_argument(
        "--tracemalloc",
        type=Path,
        default=None,
        help="run the operator with TETHER_TRACEMALLOC and write its top Python "
        "allocations after convergence to this file",
    )
    args = parser.parse_args()

    operator = None
    with bench_world("tether-bench-op-", args.kubeconfig) as world:
        tmp, kubeconfig, port = world.tmp, world.kubeconfig, world.git_port
        try:
            make_repo(tmp / "git", args.apps, args.objects)
            url = f"git://127.0.0.1:{port}/bench.git"
            kubectl(kubeconfig, "create", "namespace", NS)
            kubectl(kubeconfig, "create", "namespace", "bench-baseline")
            # The chart's tight default Project: the bench apps deploy into their own namespace.
            kubectl(kubeconfig, "apply", "-f", "-", input=DEFAULT_PROJECT)

            started = time.perf_counter()
            kubectl(
                kubeconfig,
                "apply",
                "-f",
                "-",
                input=objects_yaml(args.apps, args.objects, "bench-baseline"),
            )
            baseline = time.perf_counter() - started

            operator, metrics_port = launch_operator(
                kubeconfig,
                tmp,
                "operator",
                ["--all-namespaces", f"--concurrency={args.concurrency}"],
                env=operator_env(args.tracemalloc),
            )

            time.sleep(3)  # let the informers' first lists settle
            rss_ready = rss_mib(operator.pid)
            interval = f"{int(args.idle)}s"
            edits = min(args.edits, args.apps // 2)
            heal_from = args.apps - edits  # the last `edits` apps self-heal; the first drift
            spy = start_profiler(operator.pid, args.profile, tmp) if args.profile else None
            requests_before = api_requests_by_resource(metrics_port)
            cpu_before = cpu_seconds(operator.pid)
            started = time.perf_counter()
            kubectl(
                kubeconfig,
                "apply",
                "-f",
                "-",
                input=applications(args.apps, url, interval, heal_from),
            )
            while True:
                states = app_states(kubeconfig)
                done = sum(1 for _, s, h in states if s == "Synced" and h == "Healthy")
                if done == args.apps:
                    break
                if time.perf_counter() - started > 900:
                    raise SystemExit(
                        f"only {done}/{args.apps} converged in 900s; see {tmp / 'operator.log'}"
                    )
                time.sleep(0.5)
            converge = time.perf_counter() - started
            rss = rss_mib(operator.pid)
            if args.tracemalloc is not None:
                dump_tracemalloc(operator.pid, args.tracemalloc)
            requests_converge = api_requests_by_resource(metrics_port)
            cpu = cpu_seconds(operator.pid) - cpu_before
            if spy is not None:
                stop_profiler(spy, args.profile, tmp)

            time.sleep(3)  # let the last watch events settle
            before = api_requests(metrics_port)
            time.sleep(args.idle * 1.1)
            after = api_requests(metrics_port)
            idle = {v: after.get(v, 0) - before.get(v, 0) for v in sorted(set(after) | set(before))}
            idle = {v: n for v, n in idle.items() if n}
            writes = sum(n for v, n in idle.items() if v.split("-")[0] in WRITE_VERBS)

            lat = asyncio.run(edit_latencies(kubeconfig, range(edits), out_of_sync))
            heal = asyncio.run(edit_latencies(kubeconfig, range(heal_from, args.apps), healed))
            rss_after = rss_mib(operator.pid)

            print(f"apps={args.apps} objects/app={args.objects} concurrency={args.concurrency}")
            print(f"converge (all Synced+Healthy): {converge:8.2f} s")
            print(
                f"baseline kubectl apply {args.apps * args.objects} objects: {baseline:8.2f} s  (ratio {converge / baseline:.2f}x)"
            )
            print(f"operator RSS ready, no apps:   {rss_ready:8.1f} MiB")
            print(
                f"operator RSS after converge:   {rss:8.1f} MiB (after drift edits {rss_after:.1f} MiB)"
            )
            print(
                f"operator CPU to converge:      {cpu:8.2f} s ({cpu * 1000 / args.apps:.1f} ms per app)"
            )
            print_breakdown(requests_before, requests_converge, args.apps)
            print(
                f"idle {args.idle * 1.1:.0f}s API requests by verb: {idle or '{}'}; writes: {writes:g}"
            )
            print(
                f"drift -> OutOfSync over {len(lat)} edits: p50 {pct(lat, 0.5) * 1000:.0f} ms, p95 {pct(lat, 0.95) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms"
            )
            print(
                f"selfHeal, live edit -> Git value back over {len(heal)} edits: p50 {pct(heal, 0.5) * 1000:.0f} ms, p95 {pct(heal, 0.95) * 1000:.0f} ms, max {max(heal) * 1000:.0f} ms"
            )
        finally:
            stop_operator(operator)


if __name__ == "__main__":
    main()
