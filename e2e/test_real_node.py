"""The operator as users run it: the built image, installed by the chart, on a real node.

One module-scoped cluster with ``--real-node`` (kubelet + containerd + runc + the CNI
bridge; needs root) and the image from ``image/build.sh`` imported into containerd.
The chart runs two replicas with leader election on the tainted real node, through
its ordinary values (image, tolerations, nodeSelector). Git is ``git daemon`` on the
node's bridge address, which pods reach like any host service. The tests run in
order: pods Ready and the demo app Synced/Healthy; the container's user, writable
paths and tools checked from inside it; the leader's pod killed and a live edit
healed by the other; ``kubectl rollout restart`` in the middle of a sync with a
PostSync hook. Figures (startup, RSS, takeover) are printed for bench/README.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))

from git_servers import git, push_commit, start_git_daemon, stop

from kubectl_runner import Kubectl
from operator_helpers import (
    POST_SYNC_JOB,
    NotYet,
    app_status,
    apply_repo_and_app,
    wait_for,
    wave_cm,
    wave_deployment,
)
from tether.localcluster import LocalCluster
from tether.localcluster import node as real_node
from tether.tools import find_tool

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "tether"
IMAGE_ARCHIVE = ROOT / "dist" / "tether-image.tar"
RELEASE = "tether"
RELEASE_NS = "tether-system"
APPS_NS = "apps"
LEASE = "tether-leader"

# What a file probe inside the container may create files in; nothing else.
WRITABLE = ("/tmp", "/var/cache/tether")
PROBE = r"""
import json, os, shutil, subprocess
found = []
for top, dirs, _ in os.walk("/"):
    if top.startswith(("/proc", "/sys", "/dev")):
        dirs[:] = []
        continue
    probe = os.path.join(top, ".tether-write-probe")
    try:
        with open(probe, "x"):
            pass
    except OSError:
        continue
    os.unlink(probe)
    found.append(top)
root = next(l.split()[3] for l in open("/proc/self/mounts") if l.split()[1] == "/")
tools = {t: shutil.which(t) for t in ("gcc", "cc", "apt", "apt-get", "dpkg", "pip", "pip3")}
try:
    import pip  # noqa: F401
    tools["python -m pip"] = "importable"
except ImportError:
    tools["python -m pip"] = None
import hashlib
helm = subprocess.run(["helm", "version", "--short"], capture_output=True, text=True).stdout
kustomize = subprocess.run(["kustomize", "version"], capture_output=True, text=True).stdout
digests = {t: hashlib.sha256(open(shutil.which(t), "rb").read()).hexdigest()
           for t in ("helm", "kustomize")}
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "writable": found,
                  "root_options": root, "tools": tools,
                  "helm": helm.strip(), "kustomize": kustomize.strip(), "digests": digests}))
"""


def _versions() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (ROOT / "e2e" / "versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return {k.strip(): v.strip() for k, v in pairs}


@dataclass
class RealCluster:
    local: LocalCluster
    kubectl: Kubectl
    install_output: str = ""

    def helm(self, *args: str) -> str:
        done = subprocess.run(
            [find_tool("helm"), f"--kubeconfig={self.local.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr + self.pod_report()
        return done.stdout

    def pods(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.kubectl.json(
            "get", "pods", "-n", RELEASE_NS, "-l", "app.kubernetes.io/name=tether"
        )["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def pod_report(self) -> str:
        out = self.kubectl.run("get", "pods", "-A", "-o", "wide", check=False).stdout
        events = self.kubectl.run("get", "events", "-n", RELEASE_NS, check=False).stdout
        kubelet = self.local.logs(lines=30).get("kubelet", "")
        return f"\n{out}\n{events[-3000:]}\nkubelet log:\n{kubelet}"

    def lease_holder(self) -> str:
        lease = self.kubectl.json("get", "lease", LEASE, "-n", RELEASE_NS)
        return str(lease["spec"].get("holderIdentity") or "")

    def exec(self, pod: str, *argv: str) -> str:
        done = self.kubectl.run("exec", "-n", RELEASE_NS, pod, "-c", "operator", "--", *argv)
        return done.stdout


@dataclass
class DemoGit:
    work: Path
    port: int

    def url(self, repo: str = "apps") -> str:
        return f"git://{real_node.BRIDGE_IP}:{self.port}/{repo}"

    def push(self, files: dict[str, str], message: str) -> str:
        return push_commit(self.work, files, message)


def _ensure_image() -> Path:
    done = subprocess.run(
        ["bash", str(ROOT / "image" / "build.sh"), str(IMAGE_ARCHIVE)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, (
        f"image build failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    )
    print("\n" + done.stdout.strip().splitlines()[-1])
    return IMAGE_ARCHIVE


@pytest.fixture(scope="module")
def real() -> Iterator[RealCluster]:
    if os.geteuid() != 0:
        pytest.skip("the real node needs root: containerd, runc, a bridge and iptables rules")
    archive = _ensure_image()
    run_dir = Path(tempfile.mkdtemp(prefix="tether-rn-"))
    try:
        local = LocalCluster.start(
            run_dir, nodes=1, real_node=True, die_with_parent=True, timeout=240
        )
    except Exception:
        for log in sorted((run_dir / "logs").glob("*.log")):
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            print(f"\n===== {log.name} =====\n{tail}")
        raise
    print(
        f"\nreal-node cluster ready in {local.state.startup_seconds:.1f}s: {local.state.milestones}"
    )
    failed = False
    try:
        started = time.monotonic()
        print(local.load_image(archive))
        print(f"image import took {time.monotonic() - started:.1f}s")
        yield RealCluster(local, Kubectl(find_tool("kubectl"), local.kubeconfig))
    except BaseException:
        failed = True
        raise
    finally:
        local.stop()
        if failed:
            print(f"real-node run folder kept: {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def demo_git(tmp_path_factory: pytest.TempPathFactory, real: RealCluster) -> Iterator[DemoGit]:
    """The examples of this checkout as repo ``apps``, on the bridge address pods reach."""
    base = tmp_path_factory.mktemp("rn-gitd")
    bare = base / "apps"
    git("init", "-q", "--bare", str(bare))
    work = tmp_path_factory.mktemp("rn-work")
    git("clone", "-q", str(bare), str(work))
    shutil.copytree(ROOT / "examples", work / "examples")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "examples", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    process, port = start_git_daemon(base, listen=real_node.BRIDGE_IP)
    try:
        yield DemoGit(work, port)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def installed(real: RealCluster, tmp_path_factory: pytest.TempPathFactory) -> RealCluster:
    values = {
        "replicaCount": 2,
        "leaderElection": {"enabled": True},
        "image": {"pullPolicy": "Never"},
        "nodeSelector": {real_node.NODE_LABEL: "true"},
        "tolerations": [{"key": real_node.TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
        "probes": {"readiness": {"initialDelaySeconds": 2, "periodSeconds": 2}},
    }
    path = tmp_path_factory.mktemp("rn-values") / "values.json"
    path.write_text(json.dumps(values))
    real.install_output = real.helm(
        "install", RELEASE, str(CHART), "-n", RELEASE_NS, "--create-namespace",
        "-f", str(path), "--wait", "--timeout", "5m",
    )  # fmt: skip
    real.kubectl.run("create", "namespace", APPS_NS)
    return real


def _ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


def _ready_pods(real: RealCluster, count: int) -> Any:
    pods = real.pods()
    ready = [p for p in pods if _ready(p)]
    return ready if len(ready) == count else NotYet([p["status"].get("phase") for p in pods])


def _leader_pod(real: RealCluster) -> str:
    holder = real.lease_holder()
    names = [p["metadata"]["name"] for p in real.pods()]
    return next((n for n in names if holder.startswith(n + "-")), "")


def _operator_logs(real: RealCluster) -> str:
    """The operator pods' logs, for failure messages."""
    return "\n".join(
        f"--- {p['metadata']['name']}\n"
        + real.kubectl.run(
            "logs", "-n", RELEASE_NS, p["metadata"]["name"], "-c", "operator", check=False
        ).stdout[-6000:]
        for p in real.pods()
    )


def _follow_logs(real: RealCluster, folder: Path) -> list[Path]:
    """Stream each current operator pod's log to a file (it outlives the pod)."""
    paths = []
    for pod in real.pods():
        path = folder / f"{pod['metadata']['name']}.log"
        with path.open("wb") as out:
            subprocess.Popen(
                [real.kubectl.binary, f"--kubeconfig={real.kubectl.kubeconfig}", "logs", "-f",
                 "-n", RELEASE_NS, pod["metadata"]["name"], "-c", "operator"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        paths.append(path)
    return paths


def _pod_rss_bytes(pod: dict[str, Any]) -> int:
    """total_rss of the pod's memory cgroup (v1) or anon memory (v2), from the kubelet's tree."""
    uid = pod["metadata"]["uid"]
    for root in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup"):
        for stat in Path(root).glob(f"kubepods*/**/pod{uid}/memory.stat"):
            fields = dict(line.split() for line in stat.read_text().splitlines())
            return int(fields.get("total_rss", fields.get("anon", 0)))
    return -1


def test_pods_ready_on_the_real_node_and_demo_app_synced(
    installed: RealCluster, demo_git: DemoGit
) -> None:
    real = installed
    # The default image is not in any registry, and the install notes say so.
    assert "localhost/tether:0.1.0 is not in any registry" in real.install_output
    pods = wait_for("two operator pods Ready", lambda: _ready_pods(real, 2), timeout=180)
    assert {p["spec"]["nodeName"] for p in pods} == {real_node.NODE_NAME}
    for pod in pods:
        assert pod["spec"]["containers"][0]["image"] == "localhost/tether:0.1.0"
    project = (ROOT / "examples" / "project.yaml").read_text()
    project = project.replace("git://127.0.0.1:*/tether", demo_git.url()).replace(
        "applicationNamespaces:\n    - default", f"applicationNamespaces:\n    - {APPS_NS}"
    )
    assert demo_git.url() in project and f"- {APPS_NS}" in project
    real.kubectl.run("apply", "-f", "-", input=project)
    repo = (ROOT / "examples" / "repository.yaml").read_text()
    repo = repo.replace("git://127.0.0.1:9418/tether", demo_git.url())
    real.kubectl.run("apply", "-n", APPS_NS, "-f", "-", input=repo)
    real.kubectl.run("apply", "-n", APPS_NS, "-f", str(ROOT / "examples" / "application.yaml"))

    def synced() -> Any:
        status = app_status(real.kubectl, APPS_NS, "demo")
        ok = (status.get("sync") or {}).get("status") == "Synced" and (
            status.get("health") or {}
        ).get("status") == "Healthy"
        return status if ok else NotYet(status)

    wait_for("the demo app Synced and Healthy", synced, timeout=180)
    demo_pods = real.kubectl.json("get", "pods", "-n", "demo")["items"]
    assert demo_pods and all(p["spec"]["nodeName"].startswith("kwok-") for p in demo_pods)
    leader = wait_for("a lease holder", lambda: _leader_pod(real), timeout=60)
    rss = _pod_rss_bytes(next(p for p in real.pods() if p["metadata"]["name"] == leader))
    print(f"\noperator leader pod RSS after the demo sync: {rss / 2**20:.1f} MiB")


def test_container_user_writable_paths_and_tools(installed: RealCluster) -> None:
    real = installed
    pods = wait_for("two operator pods Ready", lambda: _ready_pods(real, 2), timeout=120)
    pod = pods[0]["metadata"]["name"]
    report = json.loads(real.exec(pod, "python3", "-c", PROBE))
    versions = _versions()
    assert (report["uid"], report["gid"]) == (10001, 10001)
    assert report["root_options"].split(",")[0] == "ro"
    outside = [d for d in report["writable"] if not d.startswith(WRITABLE)]
    assert outside == [], f"writable outside {WRITABLE}: {outside}"
    assert "/tmp" in report["writable"] and "/var/cache/tether" in report["writable"]
    assert report["tools"] == dict.fromkeys(report["tools"])  # no compiler, no package manager
    for tool, key in (("helm", "HELM_VERSION"), ("kustomize", "KUSTOMIZE_VERSION")):
        pinned = Path(find_tool(tool)).with_name(f"{tool}-{versions[key]}")
        assert report["digests"][tool] == hashlib.sha256(pinned.read_bytes()).hexdigest(), tool
        host = subprocess.run(
            [str(pinned), "version", *(["--short"] if tool == "helm" else [])],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert report[tool] == host, (tool, report[tool], host)
    for pod_info in real.pods():
        log = real.kubectl.run(
            "logs", "-n", RELEASE_NS, pod_info["metadata"]["name"], "-c", "operator"
        ).stdout
        for needle in ("Read-only file system", "Permission denied", "EROFS"):
            assert needle not in log, f"{pod_info['metadata']['name']}: {needle}"


def test_leader_pod_killed_other_takes_over_and_heals(installed: RealCluster) -> None:
    real = installed
    wait_for("two operator pods Ready", lambda: _ready_pods(real, 2), timeout=120)
    leader = wait_for("a lease holder", lambda: _leader_pod(real), timeout=60)
    page = real.kubectl.json("get", "configmap", "demo-page", "-n", "demo")["data"]["index.html"]
    started = time.monotonic()
    real.kubectl.run("delete", "pod", "-n", RELEASE_NS, leader, "--grace-period=0", "--force")
    real.kubectl.run(
        "patch", "configmap", "demo-page", "-n", "demo", "--type=merge",
        "-p", json.dumps({"data": {"index.html": "<h1>edited by hand</h1>"}}),
    )  # fmt: skip

    def new_leader() -> str:
        pod = _leader_pod(real)
        return pod if pod and pod != leader else ""

    taker = wait_for("another pod to take the lease", new_leader, timeout=120, every=0.25)
    takeover = time.monotonic() - started

    def healed() -> Any:
        data = real.kubectl.json("get", "configmap", "demo-page", "-n", "demo").get("data") or {}
        return data.get("index.html") == page or NotYet(data)

    wait_for("the live edit healed by the new leader", healed, timeout=120)
    healed_after = time.monotonic() - started
    print(
        f"\ntakeover by {taker}: lease after {takeover:.1f}s, edit healed after {healed_after:.1f}s"
    )


def test_rollout_restart_mid_sync_finishes_once_and_hook_runs_once(
    installed: RealCluster, demo_git: DemoGit, tmp_path: Path
) -> None:
    real = installed
    ns = "rollout"
    real.kubectl.run("create", "namespace", ns)
    label = "tether-e2e-rollout"
    path = "rollout"
    demo_git.push(
        {
            f"{path}/deploy.yaml": wave_deployment("gated", 0, label),
            f"{path}/after.yaml": wave_cm("after", 1),
            f"{path}/job.yaml": POST_SYNC_JOB,
        },
        message="gated rollout",
    )
    apply_repo_and_app(real.kubectl, ns, demo_git.url(), path, automated={"prune": True})

    def running() -> Any:
        status = app_status(real.kubectl, ns)
        op = status.get("operationState") or {}
        applied = real.kubectl.run("get", "deployment", "gated", "-n", ns, check=False)
        return (
            status if op.get("phase") == "Running" and applied.returncode == 0 else NotYet(status)
        )

    wait_for("the sync to wait at the wave-0 health gate", running, timeout=120)
    before = app_status(real.kubectl, ns)["operationState"]
    old_logs = _follow_logs(real, tmp_path)
    real.kubectl.run("rollout", "restart", "deployment", "-n", RELEASE_NS, RELEASE)
    real.kubectl.run("rollout", "status", "deployment", "-n", RELEASE_NS, RELEASE, "--timeout=300s")
    node = real.kubectl.json("get", "nodes", "-l", "type=kwok")["items"][0]["metadata"]["name"]
    real.kubectl.run("label", "node", node, f"{label}=yes")

    def done() -> Any:
        status = app_status(real.kubectl, ns)
        ok = (status.get("sync") or {}).get("status") == "Synced" and (
            status.get("operationState") or {}
        ).get("phase") == "Succeeded"
        return status if ok else NotYet(status)

    try:
        status = wait_for("the sync to finish after the restart", done, timeout=180)
    finally:
        real.kubectl.run("label", "node", node, f"{label}-", check=False)
    assert status["operationState"]["startedAt"] == before["startedAt"], "sync restarted"
    assert len(status["history"]) == 1, status["history"]
    jobs = real.kubectl.json("get", "jobs", "-n", ns)["items"]
    assert [j["metadata"]["name"] for j in jobs] == ["smoke"]
    events = real.kubectl.json(
        "get", "events", "-n", ns, "--field-selector", "involvedObject.kind=Job"
    )["items"]
    created = [e for e in events if e.get("reason") == "SuccessfulCreate"]
    if len(created) != 1:
        print(_operator_logs(real))
        for path in old_logs:
            print(f"--- old pod {path.stem}\n{path.read_text(errors='replace')[-8000:]}")
    assert len(created) == 1, [e.get("message") for e in events]
    assert real.kubectl.json("get", "configmap", "after", "-n", ns)["data"]["key"] == "w"
