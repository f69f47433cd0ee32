"""The operator end to end: chart installed with helm, ``tether run`` as a local process.

The chart is installed into the test cluster (with no replicas: pods there cannot
run our image) and the operator runs here with the chart ServiceAccount's token,
which proves the chart's RBAC is enough. Git is a real ``git daemon`` on
127.0.0.1. Scenarios, in the order of the issue: a directory app converges and
``kubectl get applications`` shows it; live edits show as OutOfSync and
selfHeal undoes them; new commits apply and removals prune.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from engine_helpers import tether
from operator_helpers import (
    GitServer,
    NotYet,
    Operator,
    app_status,
    apply_repo_and_app,
    configmap,
    git,
    git_server,
    installed,
    operator,
    refresh_round_trip,
    synced_healthy,
    wait_for,
)

pytestmark = pytest.mark.cluster

__all__ = ["git_server", "installed", "operator"]  # fixtures used here


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
    later = refresh_round_trip(kubectl, namespace)  # a whole later reconcile has run
    assert later["sync"]["status"] == "OutOfSync"  # no selfHeal: it stays drifted
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
