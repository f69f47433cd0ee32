"""Bench: a canary's selfHeal latency while other apps render a hostile repository.

Two runs side by side on one local control plane, each with its own ``tether run``:

1. baseline: one canary app (a plain folder with one ConfigMap, selfHeal on);
2. hostile: the same canary, plus Kustomize and Helm apps (half each) that all follow
   one repository whose commit holds 40,000 small files and ~30 MB of big files. The
   Kustomize app's generator reads 1,000 of the small files, the Helm chart globs
   1,000 more; every 3 s a new hostile commit is pushed and its Repository refreshed,
   so each hostile app renders and syncs again and again. The canary edits (one a
   second) start once the hostile apps sync churned commits, and the run reports how
   many hostile syncs started while the edits went on.

For each run it prints: live edit -> healed latency of the canary (p50, p95, max over
N edits), the operator's peak RSS (VmHWM) and the peak RSS of its whole process tree
(the render tools included, what a container's memory limit counts), and the time
from SIGTERM to exit (in the hostile run, sent while a kustomize or helm process is
running). Then the hostile/baseline ratios, against the goals: heal < 2 s, memory under
the chart's 512Mi limit, exit within the pod's default 30 s grace period.

    .venv/bin/python bench/bench_hostile.py [--edits 20] [--files 40000] [--big-mb 30]
        [--hostile-apps 6] [--kubeconfig F]
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "git"))

from git_servers import git  # noqa: E402

from bench_operator import (  # noqa: E402
    DEFAULT_PROJECT,
    bench_world,
    kubectl,
    launch_operator,
    pct,
)

CHART_MEMORY_LIMIT_MIB = 512  # charts/tether/values.yaml resources.limits.memory
GRACE_SECONDS = 30  # the pod default; the chart sets no terminationGracePeriodSeconds
GENERATED = 1000  # small files each hostile render reads (generator files, chart files)
EDIT_GAP = 1.0  # seconds between canary edits: 20 edits span several hostile commits


# -- repositories ---------------------------------------------------------------------


def canary_repo(base: Path) -> None:
    work = _new_repo(base, "canary")
    (work / "canary").mkdir()
    (work / "canary" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: canary\ndata:\n  key: git\n"
    )
    _commit_and_push(work, "canary")


def hostile_repo(base: Path, files: int, big_mb: int) -> Path:
    """40,000 small files in folders of 500, three big random files, a Kustomize app and
    a Helm chart that each read GENERATED of the small files."""
    work = _new_repo(base, "hostile")
    kust = work / "apps" / "kust"
    (kust / "files").mkdir(parents=True)
    names = [f"f{i}.txt" for i in range(GENERATED)]
    for name in names:
        (kust / "files" / name).write_text(name.ljust(256, "k"))
    generator = "\n".join(f"      - files/{n}" for n in names)
    (kust / "kustomization.yaml").write_text(
        f"configMapGenerator:\n  - name: generated\n    files:\n{generator}\n"
        "resources:\n  - web.yaml\n"
    )
    (kust / "web.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  key: x\n"
    )
    chart = work / "apps" / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "files").mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: hostile\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-files\n"
        'data:\n{{ (.Files.Glob "files/*").AsConfig | indent 2 }}\n'
    )
    for name in names:
        (chart / "files" / name).write_text(name.ljust(256, "h"))
    for i in range(max(0, files - 2 * GENERATED - 8)):
        folder = work / "noise" / str(i // 500)
        if i % 500 == 0:
            folder.mkdir(parents=True)
        (folder / f"n{i}.txt").write_text(str(i).ljust(256))
    rng = random.Random(1607)
    (work / "data").mkdir()
    for k in range(3):  # random bytes: the pack really carries them
        (work / "data" / f"big{k}.bin").write_bytes(rng.randbytes(big_mb * 1024 * 1024 // 3))
    _commit_and_push(work, "hostile")
    return work


def _new_repo(base: Path, name: str) -> Path:
    bare = base / f"{name}.git"
    git("init", "-q", "--bare", str(bare))
    work = base / f"{name}-work"
    git("clone", "-q", str(bare), str(work))
    return work


def _commit_and_push(work: Path, message: str) -> None:
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)


def push_hostile_commit(work: Path, n: int) -> None:
    """A new commit changing one file each render reads: every hostile app renders again,
    finds its ConfigMap out of sync, and syncs."""
    for app in ("kust", "chart"):
        (work / "apps" / app / "files" / "f0.txt").write_text(f"round {n}".ljust(256))
    git("commit", "-q", "-am", f"hostile {n}", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)


# -- cluster objects ------------------------------------------------------------------


def repository(ns: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": "repo", "namespace": ns},
        "spec": {"url": url, "insecure": True, "interval": "10s", "timeout": "120s"},
    }


def application(ns: str, name: str, path: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "source": {
                "repositoryRef": {"name": "repo"},
                "revision": "main",
                "path": path,
                **extra,
            },
            "destination": {"namespace": ns},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }


def hostile_apps(count: int, url: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """(namespace, objects): half Kustomize, half Helm, each in its own namespace."""
    out = []
    for i in range(count):
        ns = f"bench-hostile-{i}"
        if i % 2 == 0:
            app = application(ns, "hostile", "apps/kust", {"kustomize": {"namePrefix": f"h{i}-"}})
        else:
            app = application(ns, "hostile", "apps/chart", {"helm": {"releaseName": f"h{i}"}})
        out.append((ns, [repository(ns, url), app]))
    return out


def apply_objects(kubeconfig: Path, objs: list[dict[str, Any]]) -> None:
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})
    kubectl(kubeconfig, "apply", "-f", "-", input=doc)


# -- the operator process ---------------------------------------------------------------


@dataclass
class Run:
    """One ``tether run``, with a sampler of its process tree's RSS."""

    process: subprocess.Popen[bytes]
    peak_tree_mib: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        while not self._stop.is_set() and self.process.poll() is None:
            self.peak_tree_mib = max(self.peak_tree_mib, tree_rss_mib(self.process.pid))
            time.sleep(0.1)

    def peak_mib(self) -> float:
        return status_mib(self.process.pid, "VmHWM")

    def stop_sampling(self) -> None:
        self._stop.set()


def start_operator(kubeconfig: Path, tmp: Path, name: str, namespaces: list[str]) -> Run:
    flags = [f"--namespace={ns}" for ns in namespaces]
    level = os.environ.get("BENCH_LOG_LEVEL", "warning")  # info: one line per sync
    process, _ = launch_operator(
        kubeconfig, tmp, name, [*flags, "--concurrency=4", f"--log-level={level}"]
    )
    run = Run(process)
    threading.Thread(target=run.sample, daemon=True).start()
    return run


def status_mib(pid: int, field_name: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_rss_mib(pid: int) -> float:
    return sum(status_mib(p, "VmRSS") for p in [pid, *descendants(pid)])


def tool_running(pid: int) -> bool:
    for child in descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"kustomize" in cmdline or b"helm" in cmdline:
            return True
    return False


def sigterm_seconds(run: Run) -> float:
    run.stop_sampling()
    started = time.perf_counter()
    run.process.send_signal(signal.SIGTERM)
    try:
        run.process.wait(GRACE_SECONDS * 4)
    except subprocess.TimeoutExpired:
        run.process.kill()
        run.process.wait()
        return float("inf")
    return time.perf_counter() - started


# -- measurements -----------------------------------------------------------------------


async def heal_latencies(kubeconfig: Path, ns: str, edits: int, gap: float) -> list[float]:
    """Edit the canary live ``edits`` times, ``gap`` seconds apart; each time, how long
    until Git's value is back."""
    from tether.kube.client import KubeClient
    from tether.kube.resource import ApiResource

    cms = ApiResource("", "v1", "ConfigMap", "configmaps", True)
    client = await KubeClient.connect(str(kubeconfig))
    out: list[float] = []
    try:
        for i in range(edits):
            await client.patch(cms, "canary", {"data": {"key": f"live-{i}"}}, namespace=ns)
            started = time.perf_counter()
            while True:
                body = await client.get(cms, "canary", ns)
                if (body.get("data") or {}).get("key") == "git":
                    out.append(time.perf_counter() - started)
                    break
                if time.perf_counter() - started > 120:
                    out.append(float("inf"))
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(gap)
    finally:
        await client.close()
    return out


def wait_synced(kubeconfig: Path, ns: str, name: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = json.loads(
            kubectl(kubeconfig, "get", "applications.tether.dev", name, "-n", ns, "-o", "json")
        )
        status = doc.get("status") or {}
        if (status.get("sync") or {}).get("status") == "Synced":
            return
        time.sleep(0.5)
    raise SystemExit(f"{ns}/{name} did not sync in {timeout:g}s")


def sync_starts(kubeconfig: Path, namespaces: list[str]) -> list[float]:
    """When each sync of the hostile apps started (history and the current operation)."""
    out: list[float] = []
    for ns in namespaces:
        doc = json.loads(
            kubectl(kubeconfig, "get", "applications.tether.dev", "hostile", "-n", ns, "-o", "json")
        )
        status = doc.get("status") or {}
        stamps = [h.get("startedAt") for h in status.get("history") or ()]
        stamps.append((status.get("operationState") or {}).get("startedAt"))
        out += [_epoch(s) for s in stamps if s]
    return out


def _epoch(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def wait_started(kubeconfig: Path, namespaces: list[str], since: float) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if any(t >= since - 1 for t in sync_starts(kubeconfig, namespaces)):
            return
        time.sleep(0.5)
    raise SystemExit("no hostile app synced a churned commit in 300 s")


def syncs_since(kubeconfig: Path, namespaces: list[str], since: float) -> int:
    return sum(1 for t in sync_starts(kubeconfig, namespaces) if t >= since - 1)


@dataclass(frozen=True)
class Figures:
    heals: list[float]
    peak_mib: float
    peak_tree_mib: float
    sigterm: float
    note: str = ""

    def show(self, label: str) -> None:
        print(
            f"{label}: heal p50 {pct(self.heals, 0.5):.3f} s, p95 {pct(self.heals, 0.95):.3f} s, "
            f"max {max(self.heals):.3f} s over {len(self.heals)} edits; peak RSS operator "
            f"{self.peak_mib:.0f} MiB, process tree {self.peak_tree_mib:.0f} MiB; SIGTERM -> "
            f"exit {self.sigterm:.2f} s{self.note}"
        )


def baseline_run(kubeconfig: Path, tmp: Path, canary_url: str, edits: int) -> Figures:
    ns = "bench-canary-base"
    kubectl(kubeconfig, "create", "namespace", ns)
    run = start_operator(kubeconfig, tmp, "baseline", [ns])
    apply_objects(kubeconfig, [repository(ns, canary_url), application(ns, "canary", "canary", {})])
    wait_synced(kubeconfig, ns, "canary")
    heals = asyncio.run(heal_latencies(kubeconfig, ns, edits, EDIT_GAP))
    peak = run.peak_mib()
    return Figures(heals, peak, run.peak_tree_mib, sigterm_seconds(run))


def hostile_run(
    kubeconfig: Path, tmp: Path, canary_url: str, hostile_url: str, work: Path, args: Any
) -> Figures:
    ns = "bench-canary-hostile"
    apps = hostile_apps(args.hostile_apps, hostile_url)
    for name in [ns, *(a[0] for a in apps)]:
        kubectl(kubeconfig, "create", "namespace", name)
    run = start_operator(kubeconfig, tmp, "hostile", [ns, *(a[0] for a in apps)])
    apply_objects(kubeconfig, [repository(ns, canary_url), application(ns, "canary", "canary", {})])
    wait_synced(kubeconfig, ns, "canary")
    for _, objs in apps:
        apply_objects(kubeconfig, objs)
    for app_ns, _ in apps:  # the first fetch of the big commit and the first renders
        wait_synced(kubeconfig, app_ns, "hostile")

    stop = threading.Event()
    pushed = [0]

    def churn() -> None:
        """A new hostile commit every 3 s, fetched at once: the hostile apps keep rendering."""
        while not stop.is_set():
            pushed[0] += 1
            push_hostile_commit(work, pushed[0])
            for app_ns, _ in apps:
                kubectl(kubeconfig, "annotate", "repositories.tether.dev", "repo", "-n", app_ns,
                        f"tether.dev/refresh=c{pushed[0]}", "--overwrite")  # fmt: skip
            stop.wait(3.0)

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    try:
        # The edits start once the hostile apps sync churned commits: renders are under way.
        wait_started(kubeconfig, [a[0] for a in apps], since=time.time())
        window = time.time()
        heals = asyncio.run(heal_latencies(kubeconfig, ns, args.edits, EDIT_GAP))
        hostile_syncs = syncs_since(kubeconfig, [a[0] for a in apps], window)
    finally:
        stop.set()
        churner.join()
    # SIGTERM while a render tool runs: one more commit, then wait to see kustomize/helm.
    push_hostile_commit(work, pushed[0] + 1)
    for app_ns, _ in apps:
        kubectl(kubeconfig, "annotate", "repositories.tether.dev", "repo", "-n", app_ns,
                "tether.dev/refresh=final", "--overwrite")  # fmt: skip
    deadline = time.monotonic() + 60
    seen = False
    while time.monotonic() < deadline and not (seen := tool_running(run.process.pid)):
        time.sleep(0.005)
    peak = run.peak_mib()
    note = f"; {pushed[0]} hostile commits pushed, {hostile_syncs} hostile syncs during the edits"
    note += "" if seen else "; no render tool was caught running at SIGTERM"
    return Figures(heals, peak, run.peak_tree_mib, sigterm_seconds(run), note)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--files", type=int, default=40_000)
    parser.add_argument("--big-mb", type=int, default=30)
    parser.add_argument("--hostile-apps", type=int, default=6)
    parser.add_argument("--kubeconfig", type=Path, default=None)
    args = parser.parse_args()

    with bench_world("tether-bench-hostile-", args.kubeconfig) as world:
        tmp, kubeconfig, port = world.tmp, world.kubeconfig, world.git_port
        started = time.perf_counter()
        canary_repo(tmp / "git")
        work = hostile_repo(tmp / "git", args.files, args.big_mb)
        built = time.perf_counter() - started
        kubectl(kubeconfig, "apply", "-f", "-", input=DEFAULT_PROJECT)
        base = f"git://127.0.0.1:{port}"
        print(
            f"hostile repository: {args.files:,} files, {args.big_mb} MB of big files, "
            f"{args.hostile_apps} hostile apps (Kustomize and Helm, {GENERATED:,} files read "
            f"per render); built in {built:.0f} s; operator concurrency 4"
        )
        baseline = baseline_run(kubeconfig, tmp, f"{base}/canary.git", args.edits)
        baseline.show("baseline (canary alone)")
        hostile = hostile_run(
            kubeconfig, tmp, f"{base}/canary.git", f"{base}/hostile.git", work, args
        )
        hostile.show("hostile (canary + hostile renders)")
        for label, q in (("p50", 0.5), ("p95", 0.95)):
            ratio = pct(hostile.heals, q) / pct(baseline.heals, q)
            print(f"heal {label} hostile / baseline: {ratio:.2f}x (goal < 2 s absolute)")
        print(
            f"peak RSS hostile / baseline: operator {hostile.peak_mib / baseline.peak_mib:.2f}x, "
            f"process tree {hostile.peak_tree_mib / baseline.peak_tree_mib:.2f}x "
            f"(goal under the chart's {CHART_MEMORY_LIMIT_MIB} MiB limit)"
        )
        print(
            f"SIGTERM -> exit hostile / baseline: {hostile.sigterm / baseline.sigterm:.2f}x "
            f"(goal within the {GRACE_SECONDS} s grace period)"
        )


if __name__ == "__main__":
    main()
