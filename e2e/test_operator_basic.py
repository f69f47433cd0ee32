"""The operator end to end: chart installed with helm, ``tether run`` as a local process.

The chart is installed into the test cluster (with no replicas: pods there cannot
run our image) and the operator runs here with the chart ServiceAccount's token,
which proves the chart's RBAC is enough. Git is a real ``git daemon`` on
127.0.0.1. Scenarios, in the order of the issue: a directory app converges and
``kubectl get applications`` shows it; live edits show as OutOfSync and
selfHeal undoes them; new commits apply and removals prune.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import tether

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))

from git_servers import free_port, git, push_commit, start_git_daemon, stop

from tether.tools import find_tool

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "tether"
RELEASE_NS = "tether-system"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")


@dataclass
class GitServer:
    base: Path
    port: int
    work: Path

    def url(self) -> str:
        return f"git://127.0.0.1:{self.port}/apps.git"

    def push(
        self, files: dict[str, str], remove: tuple[str, ...] = (), message: str = "change"
    ) -> str:
        for name in remove:
            git("rm", "-q", name, cwd=self.work)
        return push_commit(self.work, files, message)


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    base = tmp_path_factory.mktemp("gitd")
    bare = base / "apps.git"
    git("init", "-q", "--bare", str(bare))
    work = tmp_path_factory.mktemp("work")
    git("clone", "-q", str(bare), str(work))
    (work / "README").write_text("apps\n")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "init", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    process, port = start_git_daemon(base)
    try:
        yield GitServer(base, port, work)
    finally:
        stop(process)


@dataclass
class Operator:
    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def metrics(self) -> str:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as r:
            return r.read().decode()


def start_operator(kubeconfig: Path, tmp: Path, *extra: str) -> Operator:
    port = free_port()
    log = tmp / f"operator-{port}.log"
    handle = open(log, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("tether")),
            "run",
            "--all-namespaces",
            f"--kubeconfig={kubeconfig}",
            "--metrics-host=127.0.0.1",
            f"--metrics-port={port}",
            f"--cache-dir={tmp / 'cache'}",
            "--concurrency=4",
            *extra,
        ],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    op = Operator(process, log, port)

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"operator exited {process.returncode}:\n{op.logs()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    wait_for("the operator to be ready", ready, timeout=60)
    return op


def stop_operator(op: Operator, sig: int = 15) -> None:
    if op.process.poll() is None:
        op.process.send_signal(sig)
        try:
            op.process.wait(20)
        except subprocess.TimeoutExpired:
            op.process.kill()
            op.process.wait(10)


@pytest.fixture(scope="module")
def installed(cluster: Any, kubectl: Any) -> Path:
    """helm install the chart; return a kubeconfig with its ServiceAccount's token."""
    helm = find_tool("helm")
    proc = subprocess.run(
        [
            helm,
            "upgrade",
            "--install",
            "tether",
            str(CHART),
            "--namespace",
            RELEASE_NS,
            "--create-namespace",
            "--set",
            "replicaCount=0",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--wait",
            "--timeout",
            "120s",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"helm install failed:\n{proc.stderr}")
    sa = kubectl.json("get", "serviceaccounts", "-n", RELEASE_NS)["items"]
    names = [s["metadata"]["name"] for s in sa if s["metadata"]["name"] != "default"]
    assert names, "the chart created no ServiceAccount"
    return Path(cluster.mint_sa_kubeconfig(RELEASE_NS, names[0], create=False))


@pytest.fixture(scope="module")
def operator(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    op = start_operator(installed, tmp_path_factory.mktemp("operator"))
    try:
        yield op
    finally:
        stop_operator(op)


def configmap(name: str, value: str) -> str:
    return f'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: "{value}"\n'


def deployment(name: str, replicas: int = 1) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: main
          image: registry.invalid/{name}:1
"""


def apply_repo_and_app(
    kubectl: Any,
    ns: str,
    url: str,
    path: str,
    *,
    automated: dict[str, Any] | None,
    name: str = "app",
    source: dict[str, Any] | None = None,
) -> None:
    """A Repository and an Application of ``path``; ``source`` adds fields to its source."""
    sync_policy: dict[str, Any] = {}
    if automated is not None:
        sync_policy["automated"] = automated
    kubectl.apply(
        [
            {
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "Repository",
                "metadata": {"name": "repo", "namespace": ns},
                "spec": {"url": url, "insecure": True, "interval": "10s"},
            },
            {
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "Application",
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "source": {
                        "repositoryRef": {"name": "repo"},
                        "revision": "main",
                        "path": path,
                        **(source or {}),
                    },
                    "destination": {"namespace": ns},
                    "syncPolicy": sync_policy,
                    "interval": "30s",
                },
            },
        ]
    )


def app_status(kubectl: Any, ns: str, name: str = "app") -> dict[str, Any]:
    return kubectl.json("get", "applications.tether.dev", name, "-n", ns).get("status") or {}


class NotYet:
    """A falsy check result that still shows what was seen, for the failure message."""

    def __init__(self, seen: Any) -> None:
        self.seen = seen

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return json.dumps(self.seen, indent=1, default=str)[:3000]


def synced_healthy(kubectl: Any, ns: str, name: str = "app") -> Callable[[], Any]:
    def check() -> Any:
        status = app_status(kubectl, ns, name)
        ok = (status.get("sync") or {}).get("status") == "Synced" and (
            status.get("health") or {}
        ).get("status") == "Healthy"
        return status if ok else NotYet(status)

    return check


def test_directory_app_becomes_synced_and_healthy(
    operator: Operator, git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    path = f"{namespace}/plain"
    git_server.push({f"{path}/cm.yaml": configmap("settings", "one")}, message="plain app")
    apply_repo_and_app(kubectl, namespace, git_server.url(), path, automated={"prune": True})
    status = wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=60)
    assert status["sync"]["revision"].endswith(git("rev-parse", "HEAD", cwd=git_server.work))
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert ready["status"] == "True"
    assert status["observedGeneration"] == 1
    cm = kubectl.json("get", "configmap", "settings", "-n", namespace)
    assert cm["data"] == {"key": "one"}
    table = kubectl.run("get", "applications", "-n", namespace).stdout
    header, row = table.splitlines()[:2]
    for column in ("SYNC", "HEALTH", "REVISION"):
        assert column in header
    assert "Synced" in row and "Healthy" in row
    wide = kubectl.run("get", "applications", "-n", namespace, "-o", "wide").stdout
    assert "MESSAGE" in wide.splitlines()[0]
    repo = kubectl.json("get", "repositories.tether.dev", "repo", "-n", namespace)["status"]
    assert {c["type"]: c for c in repo["conditions"]}["Ready"]["status"] == "True"
    assert repo["revisions"][0]["revision"] == "main"
    kubectl.run(
        "wait", "--for=condition=Ready", "application/app", "-n", namespace, "--timeout=10s"
    )
    meta = kubectl.json("get", "applications.tether.dev", "app", "-n", namespace)["metadata"]
    assert not [k for k in meta.get("annotations") or {} if "kopf" in k], meta.get("annotations")
    assert meta["finalizers"] == ["tether.dev/finalizer"]


def test_live_edit_without_self_heal_is_reported(
    operator: Operator, git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    path = f"{namespace}/drift"
    git_server.push({f"{path}/cm.yaml": configmap("settings", "git")}, message="drift app")
    apply_repo_and_app(kubectl, namespace, git_server.url(), path, automated={"prune": True})
    wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=60)
    kubectl.run(
        "patch",
        "configmap",
        "settings",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"data":{"key":"live"}}',
    )
    edited = time.monotonic()

    def out_of_sync() -> Any:
        status = app_status(kubectl, namespace)
        return status if (status.get("sync") or {}).get("status") == "OutOfSync" else False

    status = wait_for("OutOfSync", out_of_sync, timeout=10, every=0.05)
    took = time.monotonic() - edited
    print(f"\nlive edit -> OutOfSync in {took:.2f}s")
    drifted = [r for r in status["resources"] if r.get("status") == "OutOfSync"]
    assert drifted and "/data/key" in drifted[0].get("driftedFields", [])
    assert "ConfigMap" in status["message"]
    time.sleep(2)  # no selfHeal: it must stay drifted
    assert kubectl.json("get", "configmap", "settings", "-n", namespace)["data"]["key"] == "live"


def test_self_heal_restores_a_live_edit(
    operator: Operator, git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    path = f"{namespace}/heal"
    git_server.push({f"{path}/cm.yaml": configmap("settings", "git")}, message="heal app")
    apply_repo_and_app(
        kubectl, namespace, git_server.url(), path, automated={"prune": True, "selfHeal": True}
    )
    wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=60)
    kubectl.run(
        "patch",
        "configmap",
        "settings",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"data":{"key":"live"}}',
    )
    wait_for(
        "selfHeal to restore the value",
        lambda: (
            kubectl.json("get", "configmap", "settings", "-n", namespace)["data"]["key"] == "git"
        ),
        timeout=15,
        every=0.1,
    )
    wait_for("Synced again", synced_healthy(kubectl, namespace), timeout=15)


def test_new_commit_applies_and_removal_prunes(
    operator: Operator, git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    path = f"{namespace}/commits"
    git_server.push(
        {f"{path}/a.yaml": configmap("a", "1"), f"{path}/b.yaml": configmap("b", "1")},
        message="two",
    )
    apply_repo_and_app(kubectl, namespace, git_server.url(), path, automated={"prune": True})
    wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=60)
    sha = git_server.push(
        {f"{path}/a.yaml": configmap("a", "2")},
        remove=(f"{path}/b.yaml",),
        message="update a, drop b",
    )

    def applied() -> Any:
        status = app_status(kubectl, namespace)
        return (status.get("sync") or {}).get("revision", "").endswith(sha) and (
            status.get("sync") or {}
        ).get("status") == "Synced"

    wait_for("the new commit to be applied", applied, timeout=20)
    assert kubectl.json("get", "configmap", "a", "-n", namespace)["data"]["key"] == "2"
    gone = kubectl.run("get", "configmap", "b", "-n", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    history = app_status(kubectl, namespace)["history"]
    assert [h["result"] for h in history][-2:] == ["Succeeded", "Succeeded"]
    events = kubectl.json(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=app"
    )
    reasons = {e["reason"] for e in events["items"]}
    assert {"SyncStarted", "SyncSucceeded", "Pruned"} <= reasons


def test_bad_manifest_keeps_objects_and_names_the_file(
    operator: Operator, git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    path = f"{namespace}/bad"
    git_server.push(
        {f"{path}/a.yaml": configmap("a", "1"), f"{path}/b.yaml": configmap("b", "1")},
        message="good",
    )
    apply_repo_and_app(kubectl, namespace, git_server.url(), path, automated={"prune": True})
    wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=60)
    git_server.push({f"{path}/b.yaml": "kind: ConfigMap\nmetadata: [unclosed\n"}, message="broken")

    def render_failed() -> Any:
        ready = {c["type"]: c for c in app_status(kubectl, namespace).get("conditions") or ()}.get(
            "Ready"
        ) or {}
        return (
            ready
            if ready.get("status") == "False" and ready.get("reason") == "RenderFailed"
            else False
        )

    ready = wait_for("Ready=False RenderFailed", render_failed, timeout=20)
    assert "b.yaml" in ready["message"]
    for name in ("a", "b"):
        assert kubectl.json("get", "configmap", name, "-n", namespace)["data"]["key"] == "1"


def test_metrics_are_served(operator: Operator) -> None:
    text = operator.metrics()
    for name in (
        "tether_reconcile_duration_seconds",
        "tether_sync_total",
        "tether_applications",
        "tether_cache_objects",
        "tether_api_requests_total",
        "tether_git_fetch_duration_seconds",
    ):
        assert name in text


def test_cli_manual_sync_and_refresh_wait_for_the_result(
    operator: Operator, git_server: GitServer, kubectl: Any, namespace: str, cluster: Any
) -> None:
    path = f"{namespace}/manual"
    git_server.push({f"{path}/cm.yaml": configmap("manual", "m")}, message="manual app")
    apply_repo_and_app(kubectl, namespace, git_server.url(), path, automated=None)

    def out_of_sync() -> Any:
        status = app_status(kubectl, namespace)
        return status if (status.get("sync") or {}).get("status") == "OutOfSync" else NotYet(status)

    wait_for("OutOfSync (manual mode)", out_of_sync, timeout=60)
    assert kubectl.run("get", "configmap", "manual", "-n", namespace, check=False).returncode != 0
    done = tether(cluster, "app", "sync", f"{namespace}/app", "--wait", "--timeout=60", timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Succeeded" in done.stdout
    assert kubectl.json("get", "configmap", "manual", "-n", namespace)["data"]["key"] == "m"
    refreshed = tether(
        cluster, "app", "refresh", f"{namespace}/app", "--wait", "--timeout=60", timeout=90
    )
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    assert "Synced" in refreshed.stdout
    missing = tether(
        cluster, "app", "sync", f"{namespace}/nope", "--wait", "--timeout=5", timeout=60
    )
    assert missing.returncode == 1 and "nope" in missing.stderr
