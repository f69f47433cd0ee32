"""More operator scenarios against the real control plane: outages, credentials,
deletion policies, shared objects, Helm and Kustomize sources.

Uses the chart install, operator process and helpers of ``operator_helpers``.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))

from git_servers import (
    GIT_ENV,
    HttpGitServer,
    free_port,
    git,
    git_daemon_argv,
    push_commit,
    stop,
    wait_for_port,
)

from operator_helpers import (
    GitServer,
    NotYet,
    Operator,
    app_status,
    apply_repo_and_app,
    condition,
    configmap,
    git_server,
    installed,
    operator,
    ready_is,
    refresh_round_trip,
    synced_healthy,
    wait_for,
)

pytestmark = pytest.mark.cluster

__all__ = ["git_server", "installed", "operator"]  # fixtures used here


class Daemon:
    """A ``git daemon`` on a fixed port that can be stopped and started again."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            git_daemon_argv(self.base, self.port),
            env=GIT_ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


@pytest.fixture
def own_daemon(tmp_path: Path) -> Iterator[tuple[Daemon, Path]]:
    base = tmp_path / "served"
    base.mkdir()
    git("init", "-q", "--bare", str(base / "apps.git"))
    work = tmp_path / "work"
    git("clone", "-q", str(base / "apps.git"), str(work))
    daemon = Daemon(base)
    daemon.start()
    try:
        yield daemon, work
    finally:
        daemon.stop()


def test_git_outage_is_reported_prunes_nothing_and_converges_after(
    operator: Operator, own_daemon: tuple[Daemon, Path], kubectl: Any, namespace: str
) -> None:
    daemon, work = own_daemon
    push_commit(work, {"app/a.yaml": configmap("a", "1")}, "first")
    url = f"git://127.0.0.1:{daemon.port}/apps.git"
    apply_repo_and_app(kubectl, namespace, url, "app", automated={"prune": True})
    wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=60)
    daemon.stop()
    status = wait_for(
        "SourceUnavailable", ready_is(kubectl, namespace, "False", "SourceUnavailable"), timeout=30
    )
    assert "unavailable" in condition(status, "Ready")["message"]
    repo = kubectl.json("get", "repositories.tether.dev", "repo", "-n", namespace)["status"]
    assert condition(repo, "Ready")["reason"] == "FetchFailed"
    assert kubectl.json("get", "configmap", "a", "-n", namespace)["data"]["key"] == "1"
    daemon.start()
    push_commit(work, {"app/a.yaml": configmap("a", "2")}, "after the outage")
    wait_for(
        "the new commit after the outage",
        lambda: kubectl.json("get", "configmap", "a", "-n", namespace)["data"]["key"] == "2",
        timeout=30,
    )
    wait_for("Ready again", ready_is(kubectl, namespace, "True", "Succeeded"), timeout=30)


SECRET_VALUE = "wr0ng-but-very-secret-Passw0rd"


def test_wrong_credentials_report_authentication_failed_without_the_secret(
    operator: Operator, tmp_path: Path, kubectl: Any, namespace: str
) -> None:
    base = tmp_path / "http"
    base.mkdir()
    git("init", "-q", "--bare", str(base / "apps.git"))
    work = tmp_path / "work"
    git("clone", "-q", str(base / "apps.git"), str(work))
    push_commit(work, {"app/a.yaml": configmap("a", "1")}, "first")
    server = HttpGitServer(base)
    server.start()
    try:
        kubectl.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "creds", "namespace": namespace},
                "data": {
                    "username": base64.b64encode(b"alice").decode(),
                    "password": base64.b64encode(SECRET_VALUE.encode()).decode(),
                },
            }
        )
        kubectl.apply(
            [
                {
                    "apiVersion": "tether.dev/v1alpha1",
                    "kind": "Repository",
                    "metadata": {"name": "repo", "namespace": namespace},
                    "spec": {
                        "url": f"{server.url}/apps.git",
                        "insecure": True,
                        "interval": "10s",
                        "secretRef": {"name": "creds"},
                    },
                },
                {
                    "apiVersion": "tether.dev/v1alpha1",
                    "kind": "Application",
                    "metadata": {"name": "app", "namespace": namespace},
                    "spec": {
                        "source": {
                            "repositoryRef": {"name": "repo"},
                            "revision": "main",
                            "path": "app",
                        },
                        "syncPolicy": {"automated": {"prune": True}},
                    },
                },
            ]
        )

        def auth_failed() -> Any:
            repo = (
                kubectl.json("get", "repositories.tether.dev", "repo", "-n", namespace).get(
                    "status"
                )
                or {}
            )
            return (
                repo
                if condition(repo, "Stalled").get("reason") == "AuthenticationFailed"
                else NotYet(repo)
            )

        repo = wait_for("AuthenticationFailed", auth_failed, timeout=30)
        app = wait_for(
            "the app to report it",
            lambda: (
                lambda s: (
                    s
                    if condition(s, "Ready").get("reason") == "AuthenticationFailed"
                    else NotYet(s)
                )
            )(app_status(kubectl, namespace)),
            timeout=30,
        )
        events = kubectl.run("get", "events", "-n", namespace, "-o", "yaml").stdout
        for where, text in (
            ("repository status", str(repo)),
            ("application status", str(app)),
            ("events", events),
            ("operator log", operator.logs()),
        ):
            assert SECRET_VALUE not in text, f"secret value leaked into the {where}"
        assert kubectl.run("get", "configmap", "a", "-n", namespace, check=False).returncode != 0
        # fixing the Secret is picked up without touching the Repository
        kubectl.run(
            "patch",
            "secret",
            "creds",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            json.dumps({"stringData": {"password": server.password}}),
        )
        wait_for("Synced after fixing the Secret", synced_healthy(kubectl, namespace), timeout=60)
        assert server.password not in operator.logs()
    finally:
        server.stop()


@pytest.mark.parametrize(("policy", "kept"), [("Delete", False), ("Orphan", True)])
def test_delete_application_with_policy(
    policy: str, kept: bool, operator: Operator, git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    path = f"{namespace}/del"
    git_server.push({f"{path}/a.yaml": configmap("a", "1")}, message=f"delete {policy}")
    apply_repo_and_app(kubectl, namespace, git_server.url(), path, automated={"prune": True})
    kubectl.run(
        "patch",
        "applications.tether.dev",
        "app",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"deletionPolicy": policy}}),
    )
    wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=60)
    kubectl.run("delete", "applications.tether.dev", "app", "-n", namespace, "--timeout=60s")
    got = kubectl.run("get", "configmap", "a", "-n", namespace, "-o", "json", check=False)
    if kept:
        cm = json.loads(got.stdout)
        assert "tether.dev/app" not in (cm["metadata"].get("labels") or {})
        assert "tether.dev/tracking-id" not in (cm["metadata"].get("annotations") or {})
    else:

        def gone() -> bool:
            return (
                kubectl.run("get", "configmap", "a", "-n", namespace, check=False).returncode != 0
            )

        wait_for("the ConfigMap to be deleted", gone, timeout=30)


def test_two_apps_claiming_one_object(
    operator: Operator, git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    path = f"{namespace}/shared"
    git_server.push({f"{path}/a.yaml": configmap("shared", "first")}, message="shared")
    apply_repo_and_app(
        kubectl, namespace, git_server.url(), path, automated={"prune": True}, name="first"
    )
    wait_for("first Synced", synced_healthy(kubectl, namespace, "first"), timeout=60)
    before = kubectl.json("get", "configmap", "shared", "-n", namespace)["metadata"]
    apply_repo_and_app(
        kubectl, namespace, git_server.url(), path, automated={"prune": True}, name="second"
    )

    def shared() -> Any:
        seen = app_status(kubectl, namespace, "second")
        return seen if condition(seen, "SharedResource").get("status") == "True" else NotYet(seen)

    status = wait_for("SharedResource on the second app", shared, timeout=30)
    assert "shared" in condition(status, "SharedResource")["message"]
    refresh_round_trip(kubectl, namespace, "second")  # a later reconcile has run in full
    after = kubectl.json("get", "configmap", "shared", "-n", namespace)["metadata"]
    assert after["resourceVersion"] == before["resourceVersion"]
    assert after["labels"]["tether.dev/app"] == before["labels"]["tether.dev/app"]


CHART = {
    "Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    "values.yaml": "greeting: hello\n",
    "templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-helm\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    ),
}
KUSTOMIZE = {
    "kustomization.yaml": "resources:\n  - cm.yaml\nnamePrefix: kz-\ncommonLabels:\n  made-by: kustomize\n",
    "cm.yaml": configmap("plain", "k"),
}


@pytest.mark.parametrize(
    ("kind", "files", "expect"), [("helm", CHART, "app-helm"), ("kustomize", KUSTOMIZE, "kz-plain")]
)
def test_helm_and_kustomize_apps_sync(
    kind: str,
    files: dict[str, str],
    expect: str,
    operator: Operator,
    git_server: GitServer,
    kubectl: Any,
    namespace: str,
) -> None:
    path = f"{namespace}/{kind}"
    git_server.push({f"{path}/{name}": text for name, text in files.items()}, message=kind)
    apply_repo_and_app(kubectl, namespace, git_server.url(), path, automated={"prune": True})
    wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=90)
    cm = kubectl.json("get", "configmap", expect, "-n", namespace)
    if kind == "helm":
        assert cm["data"]["greeting"] == "hello"
    else:
        assert cm["metadata"]["labels"]["made-by"] == "kustomize"
