"""What the operator e2e modules share: the Git server, the operator process, waits.

Fixtures (``git_server``, ``installed``, ``operator``) are defined here and
imported by the test modules; ``wait_for`` is the one polling helper: it
returns the first truthy value of a check, or fails naming what it waited for
and the last thing it saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))

from git_servers import free_port, git, push_commit, start_git_daemon, stop

from engine_helpers import wait_for
from tether.tools import find_tool

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "tether"
RELEASE_NS = "tether-system"


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


def seeded_repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A folder holding a bare ``apps.git`` with one commit on main, and a clone of it."""
    base = tmp_path_factory.mktemp("gitd")
    bare = base / "apps.git"
    git("init", "-q", "--bare", str(bare))
    work = tmp_path_factory.mktemp("work")
    git("clone", "-q", str(bare), str(work))
    (work / "README").write_text("apps\n")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "init", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    return base, work


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    base, work = seeded_repository(tmp_path_factory)
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


def start_operator(
    kubeconfig: Path, tmp: Path, *extra: str, namespaces: tuple[str, ...] = ()
) -> Operator:
    """``tether run`` as a subprocess, ready; the whole cluster unless ``namespaces``."""
    op = spawn_operator(kubeconfig, tmp, *extra, namespaces=namespaces)
    wait_ready(op)
    return op


def spawn_operator(
    kubeconfig: Path, tmp: Path, *extra: str, namespaces: tuple[str, ...] = ()
) -> Operator:
    """Start ``tether run`` (all namespaces unless ``namespaces``, its own metrics port
    and log); do not wait."""
    port = free_port()
    scope = [f"--namespace={ns}" for ns in namespaces] or ["--all-namespaces"]
    log = tmp / f"operator-{port}.log"
    handle = open(log, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("tether")),
            "run",
            *scope,
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
    return Operator(process, log, port)


def wait_ready(op: Operator) -> None:
    """Wait until the operator's /readyz answers 200; fail with its log if it exits."""

    def ready() -> bool:
        if op.process.poll() is not None:
            pytest.fail(f"operator exited {op.process.returncode}:\n{op.logs()[-4000:]}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{op.metrics_port}/readyz", timeout=1
            ) as r:
                return r.status == 200
        except OSError:
            return False

    wait_for("the operator to be ready", ready, timeout=60)


def helm(cluster: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """The pinned helm against the cluster; a failure fails the test with its stderr."""
    done = subprocess.run(
        [find_tool("helm"), f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


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
    return install_chart(cluster, kubectl)


def install_chart(cluster: Any, kubectl: Any, *sets: str) -> Path:
    """helm install the chart with no operator pod (and ``sets``); return a kubeconfig
    with its ServiceAccount's token, so local operators act with the chart's RBAC."""
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
            *(arg for value in sets for arg in ("--set", value)),
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


@pytest.fixture
def own_operator(installed: Path, tmp_path: Path) -> Iterator[list[Operator]]:
    """A list holding the running operator; tests may replace it after a kill."""
    ops = [start_operator(installed, tmp_path)]
    try:
        yield ops
    finally:
        for op in ops:
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
    project: str | None = None,
    repo_spec: dict[str, Any] | None = None,
    app_interval: str = "30s",
) -> None:
    """A Repository and an Application of ``path``; ``source`` adds fields to its source,
    ``repo_spec`` to the Repository's spec (its interval is 10s unless given).

    Without ``project`` the app uses the chart's tight ``default`` Project."""
    sync_policy: dict[str, Any] = {}
    if automated is not None:
        sync_policy["automated"] = automated
    kubectl.apply(
        [
            {
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "Repository",
                "metadata": {"name": "repo", "namespace": ns},
                "spec": {"url": url, "insecure": True, "interval": "10s", **(repo_spec or {})},
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
                    "interval": app_interval,
                    **({"project": project} if project else {}),
                },
            },
        ]
    )


def post_webhook(port: int, provider: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST a webhook delivery to the operator's receiver; (HTTP status, JSON answer)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/{provider}", data=body, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def namespace_project(kubectl: Any, ns: str) -> str:
    """A Project named ``ns`` for the apps of ``ns``: its own namespace and ``ns-*``, and
    Namespaces as the one cluster-scoped kind (for tests that manage Namespaces)."""
    kubectl.apply(
        [
            {
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "Project",
                "metadata": {"name": ns},
                "spec": {
                    "sourceRepositories": ["*"],
                    "destinations": ["$self", f"{ns}-*"],
                    "clusterResources": [{"group": "", "kind": "Namespace"}],
                    "applicationNamespaces": [ns],
                },
            }
        ]
    )
    return ns


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    """The condition of ``type_`` in a status ({} when absent)."""
    return {c["type"]: c for c in status.get("conditions") or ()}.get(type_) or {}


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


def ready_is(kubectl: Any, ns: str, status: str, reason: str, name: str = "app") -> Any:
    def check() -> Any:
        seen = app_status(kubectl, ns, name)
        ready = condition(seen, "Ready")
        ok = ready.get("status") == status and ready.get("reason") == reason
        return seen if ok else NotYet(seen)

    return check


def synced_healthy(kubectl: Any, ns: str, name: str = "app") -> Callable[[], Any]:
    def check() -> Any:
        status = app_status(kubectl, ns, name)
        ok = (status.get("sync") or {}).get("status") == "Synced" and (
            status.get("health") or {}
        ).get("status") == "Healthy"
        return status if ok else NotYet(status)

    return check


def reconciled_after(kubectl: Any, ns: str, name: str, after: str) -> Callable[[], Any]:
    """A check that passes once the app was reconciled after ``after`` (a reconciledAt).

    The positive signal that a window has passed: a later reconcile has run, so
    whatever it would have done (a sync, a hook) has had its chance.
    """

    def check() -> Any:
        status = app_status(kubectl, ns, name)
        later = str(status.get("reconciledAt") or "") > after
        return status if later else NotYet(status)

    return check


def refresh_round_trip(kubectl: Any, ns: str, name: str = "app") -> dict[str, Any]:
    """Ask for a refresh and wait until the operator reports on that very request.

    When it returns, a whole reconcile (compare, sync decision, status) has run
    after the call: a positive signal that any action it would take has been taken.
    """
    value = f"probe-{time.monotonic_ns()}"
    kubectl.run(
        "annotate", "applications.tether.dev", name, "-n", ns, f"tether.dev/refresh={value}",
        "--overwrite",
    )  # fmt: skip

    def handled() -> Any:
        status = app_status(kubectl, ns, name)
        return status if status.get("lastHandledRefresh") == value else NotYet(status)

    result: dict[str, Any] = wait_for(f"the refresh {value} to be handled", handled, timeout=60)
    return result


def wave_deployment(name: str, wave: int, node_label: str | None = None) -> str:
    selector = f'      nodeSelector: {{{node_label}: "yes"}}\n' if node_label else ""
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  annotations:
    argocd.argoproj.io/sync-wave: "{wave}"
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
{selector}      containers:
        - name: main
          image: registry.invalid/{name}:1
"""


def wave_cm(name: str, wave: int) -> str:
    return configmap(name, "w").replace(
        "metadata:\n", f'metadata:\n  annotations:\n    argocd.argoproj.io/sync-wave: "{wave}"\n'
    )


POST_SYNC_JOB = """apiVersion: batch/v1
kind: Job
metadata:
  name: smoke
  annotations:
    argocd.argoproj.io/hook: PostSync
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: smoke
          image: registry.invalid/smoke:1
"""


OPERATION = "tether.dev/operation"
_CAPTURE: dict[str, Any] = {"capture_output": True, "text": True, "check": True, "timeout": 60}


class JobWatch:
    """Every Job the server created in a namespace, by uid, from a raw watch.

    The watch resumes from the last resourceVersion it saw whenever the stream ends,
    so no creation falls into a gap; a 410 Gone is recorded and fails the test.
    """

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self._argv = [find_tool("kubectl"), f"--kubeconfig={kubeconfig}", "get", "--raw"]
        self._path = f"/apis/batch/v1/namespaces/{namespace}/jobs"
        listed = json.loads(subprocess.run([*self._argv, self._path], **_CAPTURE).stdout)
        self._rv = str(listed["metadata"]["resourceVersion"])
        self.created: dict[str, tuple[str, str]] = {}  # uid -> (name, operation)
        self.error = ""
        self._stopped = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stopped.is_set() and not self.error:
            query = f"?watch=1&allowWatchBookmarks=true&resourceVersion={self._rv}"
            self._process = subprocess.Popen(
                [*self._argv, self._path + query], stdout=subprocess.PIPE, text=True
            )
            assert self._process.stdout is not None
            for line in self._process.stdout:
                self._record(json.loads(line))
            self._process.wait()

    def _record(self, event: dict[str, Any]) -> None:
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        if event.get("type") == "ERROR":
            self.error = str(obj.get("message") or obj)
            return
        self._rv = str(meta.get("resourceVersion") or self._rv)
        if event.get("type") == "ADDED":
            operation = (meta.get("annotations") or {}).get(OPERATION, "")
            self.created.setdefault(str(meta["uid"]), (str(meta["name"]), operation))

    def runs(self) -> dict[tuple[str, str], int]:
        """(hook, operation) -> how many Jobs were created; generated names by prefix."""
        assert not self.error, f"the Job watch broke: {self.error}"
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for name, operation in list(self.created.values()):
            counts[(name.split("-")[0], operation)] += 1
        return dict(counts)

    def runs_by_name(self) -> dict[tuple[str, str], int]:
        """(Job name, operation) -> how many Jobs were created under that exact name."""
        assert not self.error, f"the Job watch broke: {self.error}"
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for name, operation in list(self.created.values()):
            counts[(name, operation)] += 1
        return dict(counts)

    def stop(self) -> None:
        self._stopped.set()
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)


_CAPTURE: dict[str, Any] = {"capture_output": True, "text": True, "check": True, "timeout": 60}
