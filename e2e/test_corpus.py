"""The corpus of realistic repositories, end to end: every app settles, then stays quiet.

``tests/corpus`` is served as one Git repository over ``git daemon``. One operator
(installed by the chart, run here as a local process with the chart's
ServiceAccount) runs every app of ``tests/corpus/apps.yaml`` at once, each in its
own namespace with ``automated: {prune: true, selfHeal: true}``, and:

1. each app reaches the sync status, health and Ready reason the table names;
2. then, in one idle window of at least 30 s for all apps together, no new sync
   operation starts (history, operation start time and ``tether_sync_total``
   unchanged) and no hook Job is created again. Jobs are counted from a watch
   started before the apps exist, so a hook that deletes itself is still seen.
   The window is proved to have been lived through, not slept through: the
   operator's Application reconcile count rises by at least two interval-driven
   passes per app, and a refresh annotation set after 30 s comes back handled
   for every app;
3. each hook ran once per operation (Jobs created = hook Jobs x operations);
4. the operator log has no Python traceback over the whole run.

Before that, the CLI: ``tether sync`` then ``tether diff`` of every app that should
be Synced, one-shot, in separate namespaces; the diff must exit 0.

Parts of this wait for other branches (see ``waitsFor`` in apps.yaml): hooks as
drift and failure status (``seam``), Jsonnet (``jsonnet``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from engine_helpers import tether
from operator_helpers import installed, start_operator, stop_operator, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))

from git_servers import git, start_git_daemon, stop

pytestmark = pytest.mark.cluster

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus"
IDLE_WINDOW = 30.0
INTERVAL = "10s"  # each app's reconcile interval: three passes in the idle window
SETTLE_TIMEOUT = 180.0
CRD_NAME = "backups.corpus.tether.dev"

__all__ = ["installed"]  # a fixture, used by name


@dataclass(frozen=True)
class CorpusApp:
    """One row of apps.yaml."""

    name: str
    path: str
    expect: dict[str, str]
    source: dict[str, Any] = field(default_factory=dict)
    cli: tuple[str, ...] = ()
    hook_jobs: int = 0
    waits_for: str = ""

    @property
    def namespace(self) -> str:
        return f"corpus-{self.name}"

    @property
    def should_sync(self) -> bool:
        return self.expect["sync"] == "Synced"


def load_apps() -> list[CorpusApp]:
    table = YAML(typ="safe").load((CORPUS / "apps.yaml").read_text())
    return [
        CorpusApp(
            name=row["name"],
            path=row["path"],
            expect=dict(row["expect"]),
            source=dict(row.get("source") or {}),
            cli=tuple(row.get("cli") or ()),
            hook_jobs=int(row.get("hookJobs", 0)),
            waits_for=str(row.get("waitsFor", "")),
        )
        for row in table["apps"]
    ]


APPS = load_apps()


# -- the corpus as a Git repository -------------------------------------------------


@pytest.fixture(scope="module")
def corpus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("corpus-served")
    work = tmp_path_factory.mktemp("corpus-work") / "corpus"
    shutil.copytree(CORPUS, work)
    git("init", "-q", "-b", "main", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "corpus", cwd=work)
    git("clone", "-q", "--bare", str(work), str(base / "corpus.git"))
    process, port = start_git_daemon(base)
    try:
        yield f"git://127.0.0.1:{port}/corpus.git"
    finally:
        stop(process)


# -- watching Jobs ------------------------------------------------------------------


@dataclass(frozen=True)
class JobEvent:
    at: float
    type: str
    namespace: str
    name: str
    uid: str


class JobWatch:
    """``kubectl get jobs -A --watch``: every Job event, with the time it was seen."""

    def __init__(self, kubectl: Any) -> None:
        self.events: list[JobEvent] = []
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            [
                kubectl.binary,
                f"--kubeconfig={kubectl.kubeconfig}",
                "get",
                "jobs",
                "--all-namespaces",
                "--watch",
                "--output-watch-events",
                "-o",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        decoder = json.JSONDecoder()
        buffer = ""
        for line in self._process.stdout:
            buffer += line
            while buffer.strip():
                try:
                    event, end = decoder.raw_decode(buffer.lstrip())
                except json.JSONDecodeError:
                    break
                buffer = buffer.lstrip()[end:]
                meta = event.get("object", {}).get("metadata", {})
                seen = JobEvent(
                    time.monotonic(),
                    str(event.get("type")),
                    str(meta.get("namespace")),
                    str(meta.get("name")),
                    str(meta.get("uid")),
                )
                with self._lock:
                    self.events.append(seen)

    def created(self, namespace: str, since: float = 0.0) -> set[str]:
        """Uids of the Jobs first seen (ADDED) in ``namespace`` at or after ``since``."""
        with self._lock:
            return {
                e.uid
                for e in self.events
                if e.type == "ADDED" and e.namespace == namespace and e.at >= since
            }

    def seen(self, namespace: str, name: str) -> bool:
        with self._lock:
            return any(e.namespace == namespace and e.name == name for e in self.events)

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(10)


@pytest.fixture(scope="module")
def job_watch(kubectl: Any) -> Iterator[JobWatch]:
    """A Job watch proved live: it has seen a sentinel Job created after it started."""
    watch = JobWatch(kubectl)
    sentinel_ns = f"corpus-sentinel-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", sentinel_ns)
    kubectl.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "sentinel", "namespace": sentinel_ns},
            "spec": {
                "suspend": True,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox:1.36"}],
                    }
                },
            },
        }
    )
    try:
        wait_for("the Job watch to see the sentinel", lambda: watch.seen(sentinel_ns, "sentinel"))
        yield watch
    finally:
        watch.close()
        kubectl.run("delete", "namespace", sentinel_ns, "--wait=false", check=False)


# -- Applications -------------------------------------------------------------------


# The corpus deploys CRDs and other cluster-scoped kinds, which the chart's tight
# ``default`` Project refuses: the corpus apps use this one, as an admin would set up.
CORPUS_PROJECT: dict[str, Any] = {
    "apiVersion": "tether.dev/v1alpha1",
    "kind": "Project",
    "metadata": {"name": "corpus"},
    "spec": {
        "sourceRepositories": ["*"],
        "destinations": ["$self"],
        "clusterResources": [{"group": "*", "kind": "*"}],
        "applicationNamespaces": ["corpus-*"],
    },
}


def application(app: CorpusApp, url: str) -> dict[str, Any]:
    source = {"repoURL": url, "insecure": True, "revision": "main", "path": app.path}
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": app.name, "namespace": app.namespace},
        "spec": {
            "source": {**source, **app.source},
            "project": "corpus",
            "destination": {"namespace": app.namespace},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
            "interval": INTERVAL,
        },
    }


def all_statuses(kubectl: Any) -> dict[str, dict[str, Any]]:
    items = kubectl.json("get", "applications", "--all-namespaces")["items"]
    return {
        item["metadata"]["name"]: item.get("status") or {}
        for item in items
        if item["metadata"]["namespace"].startswith("corpus-")
    }


def ready_reason(status: dict[str, Any]) -> str:
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Ready":
            return str(condition.get("reason"))
    return ""


def observed(status: dict[str, Any]) -> dict[str, str]:
    return {
        "sync": str((status.get("sync") or {}).get("status")),
        "health": str((status.get("health") or {}).get("status")),
        "reason": ready_reason(status),
    }


def settled(app: CorpusApp, status: dict[str, Any]) -> bool:
    if observed(status) != app.expect:
        return False
    if not app.should_sync:
        return True
    return (status.get("operationState") or {}).get("phase") == "Succeeded"


def quiet_marks(status: dict[str, Any]) -> tuple[int, str]:
    """What a new sync operation changes: the history length and the operation start."""
    return len(status.get("history") or ()), str(
        (status.get("operationState") or {}).get("startedAt")
    )


def metric(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def metric_sum(text: str, name: str) -> float:
    return sum(
        float(v)
        for v in re.findall(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", text, re.MULTILINE)
    )


def mismatch_report(statuses: dict[str, dict[str, Any]]) -> str:
    lines = []
    for app in APPS:
        status = statuses.get(app.name, {})
        if not settled(app, status):
            message = ""
            for condition in status.get("conditions") or ():
                if condition.get("type") == "Ready":
                    message = str(condition.get("message", ""))[:200]
            op = (status.get("operationState") or {}).get("phase")
            lines.append(
                f"  {app.name}{waits(app)}: expected {app.expect}, "
                f"got {observed(status)}, operation {op}: {message}"
            )
    return "\n".join(lines)


# -- the CLI: sync, then diff says in sync ------------------------------------------


def cli_args(app: CorpusApp, namespace: str) -> list[str]:
    return [str(CORPUS), "--path", app.path, *app.cli, "--app", app.name, "-n", namespace]


@pytest.mark.timeout(600)
def test_cli_diff_is_clean_right_after_cli_sync(cluster: Any, kubectl: Any) -> None:
    """``tether sync`` then ``tether diff`` (exit 0) for every app that should be Synced."""
    apps = [app for app in APPS if app.should_sync]

    namespaces = {app.name: f"cli-{app.name}-{uuid.uuid4().hex[:5]}" for app in apps}

    def one(app: CorpusApp) -> str:
        namespace = namespaces[app.name]
        kubectl.run("create", "namespace", namespace)
        synced = tether(cluster, "sync", *cli_args(app, namespace), timeout=300)
        if synced.returncode != 0:
            return f"{app.name}: sync exit {synced.returncode}: {synced.stderr.strip()[-500:]}"
        diffed = tether(cluster, "diff", *cli_args(app, namespace))
        if diffed.returncode != 0:
            return (
                f"{app.name} (waits for {app.waits_for or '-'}): diff exit {diffed.returncode} "
                f"after a successful sync:\n{diffed.stdout[-1500:]}{diffed.stderr[-500:]}"
            )
        return ""

    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            problems = [p for p in pool.map(one, apps) if p]
    finally:
        # The CRD is cluster-wide: leave it to the operator's app, not this CLI app.
        kubectl.run("delete", "crd", CRD_NAME, "--ignore-not-found", "--wait=true", check=False)
        for namespace in namespaces.values():
            kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)
    assert not problems, "\n".join(problems)


# -- the operator: every app settles, then stays quiet ----------------------------------


@pytest.mark.timeout(900)
def test_every_corpus_app_settles_then_stays_quiet(
    kubectl: Any,
    installed: Path,
    corpus_url: str,
    job_watch: JobWatch,
    tmp_path: Path,
) -> None:
    """Every problem of every app is collected and reported together at the end."""
    kubectl.run("delete", "crd", CRD_NAME, "--ignore-not-found", "--wait=true", check=False)
    kubectl.apply([CORPUS_PROJECT])
    operator = start_operator(installed, tmp_path)
    problems: list[str] = []
    try:
        applied = []
        for app in APPS:
            kubectl.run("create", "namespace", app.namespace)
            done = kubectl.run(
                "apply", "-f", "-", input=json.dumps(application(app, corpus_url)), check=False
            )
            if done.returncode != 0:
                problems.append(f"{app.name}{waits(app)}: Application refused: {done.stderr}")
            else:
                applied.append(app)

        # 1. every app reaches its expected status
        deadline = time.monotonic() + SETTLE_TIMEOUT
        statuses = all_statuses(kubectl)
        while not all(settled(app, statuses.get(app.name, {})) for app in applied):
            if time.monotonic() > deadline:
                problems.append(f"not settled in {SETTLE_TIMEOUT:g}s:\n{mismatch_report(statuses)}")
                break
            time.sleep(1)
            statuses = all_statuses(kubectl)
        unsettled = {app.name for app in applied if not settled(app, statuses.get(app.name, {}))}

        # 2. the idle window, for all apps together
        start = time.monotonic()
        before = {app.name: quiet_marks(statuses.get(app.name, {})) for app in applied}
        metrics = operator.metrics()
        reconciles = metric(
            metrics, "tether_reconcile_duration_seconds_count", 'kind="Application"'
        )
        syncs = metric_sum(metrics, "tether_sync_total")
        wanted = reconciles + 2 * len(applied)

        def lived_through() -> bool:
            now = operator.metrics()
            count = metric(now, "tether_reconcile_duration_seconds_count", 'kind="Application"')
            return time.monotonic() - start >= IDLE_WINDOW and count >= wanted

        wait_for("30 s and two interval reconciles per app", lived_through, timeout=120, every=1)
        value = f"corpus-{uuid.uuid4().hex[:8]}"
        for app in applied:
            kubectl.run(
                "annotate", "application", app.name, "-n", app.namespace,
                f"tether.dev/refresh={value}", "--overwrite",
            )  # fmt: skip

        deadline = time.monotonic() + 60
        after = all_statuses(kubectl)
        while time.monotonic() < deadline and not all(
            after.get(app.name, {}).get("lastHandledRefresh") == value for app in applied
        ):
            time.sleep(0.5)
            after = all_statuses(kubectl)
        for app in applied:
            now = after.get(app.name, {})
            if now.get("lastHandledRefresh") != value:
                problems.append(f"{app.name}{waits(app)}: the refresh was not handled in 60 s")
            problems.extend(quiet_problems(app, before[app.name], now, start, job_watch))
            if app.name not in unsettled and not settled(app, now):
                problems.append(f"{app.name}{waits(app)}: left {app.expect}: {observed(now)}")
        if metric_sum(operator.metrics(), "tether_sync_total") != syncs:
            problems.append("tether_sync_total moved in the idle window")
    finally:
        # Deleting the Applications prunes their objects (the CRD too) while the
        # operator still runs to take its finalizer off; then the namespaces go.
        for app in APPS:
            kubectl.run(
                "delete", "application", app.name, "-n", app.namespace,
                "--wait=false", "--ignore-not-found", check=False,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while all_statuses(kubectl) and time.monotonic() < deadline:
            time.sleep(1)
        stop_operator(operator)
        for app in APPS:
            kubectl.run("delete", "namespace", app.namespace, "--wait=false", check=False)
    # 4. no traceback over the whole run
    log = operator.logs()
    if "Traceback" in log:
        at = log.index("Traceback")
        problems.append(f"the operator log has a traceback:\n{log[max(0, at - 500) : at + 3000]}")
    assert not problems, "\n".join(problems)


def waits(app: CorpusApp) -> str:
    return f" (waits for {app.waits_for})" if app.waits_for else ""


def quiet_problems(
    app: CorpusApp,
    before: tuple[int, str],
    after: dict[str, Any],
    start: float,
    job_watch: JobWatch,
) -> list[str]:
    """No operation and no hook Job in the window; each hook Job once per operation."""
    problems = []
    if quiet_marks(after) != before:
        problems.append(
            f"{app.name}{waits(app)}: a new operation started in the idle window "
            f"(history, start: {before} -> {quiet_marks(after)})"
        )
    again = job_watch.created(app.namespace, since=start)
    if again:
        problems.append(f"{app.name}{waits(app)}: {len(again)} Job(s) created in the idle window")
    # 3. every hook ran once per operation
    operations = len(after.get("history") or ())
    created = job_watch.created(app.namespace)
    if len(created) != app.hook_jobs * operations:
        problems.append(
            f"{app.name}{waits(app)}: {len(created)} hook Jobs created over {operations} "
            f"operation(s) of {app.hook_jobs} hook Job(s) each"
        )
    return problems
