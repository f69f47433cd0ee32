"""Permission errors reach the Application's status: the chart with ``rbac.deploy.create=false``.

The operator runs as the chart's own ServiceAccount (a TokenRequest token, so the API
server treats it as the pod would be), installed with the documented hardening: no
deploy permission set. A new app then gets a status at once, ``Ready=False`` with
reason ``PermissionDenied`` naming the user, the verb, the resource and the namespace
the server refused: first the cluster-wide list/watch of the kinds it manages; once
those are granted read-only, the create of its ConfigMap. When the write is granted
too and a sync is asked for, the app syncs and the condition is gone.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from operator_helpers import (
    CHART,
    GitServer,
    NotYet,
    app_status,
    apply_repo_and_app,
    condition,
    configmap,
    git_server,
    helm,
    namespace_project,
    start_operator,
    stop_operator,
    synced_healthy,
    wait_for,
)
from tether.tools import find_tool

pytestmark = pytest.mark.cluster

__all__ = ["git_server"]


@pytest.fixture
def hardened(cluster: Any, namespace: str) -> Iterator[tuple[str, Path]]:
    """The chart with ``rbac.deploy.create=false``: (its ServiceAccount user, a kubeconfig)."""
    release = f"p{uuid.uuid4().hex[:8]}"
    helm(
        cluster, "install", release, str(CHART), "-n", namespace,
        "--set", "rbac.deploy.create=false", "--set", "projects.default.create=false",
        "--set", "replicaCount=0",
    )  # fmt: skip
    sa = f"{release}-tether"
    try:
        yield (
            f"system:serviceaccount:{namespace}:{sa}",
            Path(cluster.mint_sa_kubeconfig(namespace, sa, create=False)),
        )
    finally:
        subprocess.run(
            [find_tool("helm"), f"--kubeconfig={cluster.kubeconfig}", "uninstall", release,
             "-n", namespace],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip


def ready_reason(kubectl: Any, ns: str, reason: str, pattern: str) -> Any:
    """A check: Ready=False with ``reason`` and a message matching ``pattern``. Each try
    also asks for a refresh, so a grant is seen without waiting out the retry backoff."""

    asked = [time.monotonic()]

    def check() -> Any:
        status = app_status(kubectl, ns)
        ready = condition(status, "Ready")
        ok = ready.get("reason") == reason and re.search(pattern, ready.get("message", ""))
        if not ok and time.monotonic() - asked[0] > 2:
            asked[0] = time.monotonic()
            kubectl.run(
                "annotate", "applications.tether.dev", "app", "-n", ns,
                f"tether.dev/refresh={time.monotonic_ns()}", "--overwrite",
            )  # fmt: skip
        return ready if ok else NotYet(status)

    return check


def grant(kubectl: Any, name: str, user: str, namespace: str, verbs: list[str]) -> None:
    """A ClusterRole with ``verbs`` on every resource, bound to ``user`` (cluster-wide when
    ``namespace`` is empty, else in that namespace only)."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": verbs}]}  # fmt: skip
    ns, sa = user.split(":")[2:]
    binding: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": {"name": name, **({"namespace": namespace} if namespace else {})},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
    }
    kubectl.apply([role, binding])


def test_refused_list_and_create_reach_status_with_who_what_and_where(
    hardened: tuple[str, Path],
    git_server: GitServer,
    kubectl: Any,
    namespace: str,
    tmp_path: Path,
) -> None:
    user, kubeconfig = hardened
    path = f"{namespace}/app"
    git_server.push({f"{path}/cm.yaml": configmap("guarded", "1")}, message="guarded")
    project = namespace_project(kubectl, namespace)
    reader, writer = f"{namespace}-read", f"{namespace}-write"
    op = start_operator(kubeconfig, tmp_path, namespaces=(namespace,))
    try:
        apply_repo_and_app(
            kubectl, namespace, git_server.url(), path, automated={"prune": True},
            project=project,
        )  # fmt: skip

        # 1. The new app gets a status: the cluster-wide list/watch was refused.
        who = re.escape(user)
        listed = wait_for(
            "PermissionDenied for the list",
            ready_reason(kubectl, namespace, "PermissionDenied",
                         rf"forbidden: {who} cannot (list|watch) \w+ \(.+\) in all namespaces"),
            timeout=60,
        )  # fmt: skip
        assert listed["status"] == "False", listed
        assert f"application {namespace}/app: PermissionDenied: " in op.logs()

        # 2. Read-only everywhere: the compare works, the create is refused.
        grant(kubectl, reader, user, "", ["get", "list", "watch"])
        created = wait_for(
            "PermissionDenied for the create",
            ready_reason(kubectl, namespace, "PermissionDenied",
                         rf"ConfigMap {namespace}/guarded: forbidden: {who} cannot create "
                         rf"configmaps \(the core API group\) in namespace {namespace}"),
            timeout=90,
        )  # fmt: skip
        assert created["message"].startswith("sync failed: "), created
        state = app_status(kubectl, namespace)["operationState"]
        assert state["phase"] == "Failed" and state["syncResult"]["resources"][0]["status"] == (
            "SyncFailed"
        )

        # 3. Writes granted in the app's namespace: it syncs, and the condition is gone.
        grant(kubectl, writer, user, namespace, ["create", "patch", "update", "delete"])
        kubectl.run(
            "annotate",
            "applications.tether.dev",
            "app",
            "-n",
            namespace,
            "tether.dev/sync=after-grant",
            "--overwrite",
        )  # fmt: skip (no retry limit is set: a manual sync tries again)
        done = wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=90)
        ready = condition(done, "Ready")
        assert (ready["status"], ready["reason"]) == ("True", "Succeeded"), ready
        assert kubectl.json("get", "configmap", "guarded", "-n", namespace)["data"] == {"key": "1"}
    finally:
        stop_operator(op)
        kubectl.run("delete", "clusterrolebinding,clusterrole", reader, "--ignore-not-found",
                    check=False)  # fmt: skip
        kubectl.run("delete", "clusterrole", writer, "--ignore-not-found", check=False)
        kubectl.run("delete", "projects.tether.dev", project, "--wait=false", check=False)
