"""Hooks and unknown kinds through the operator (issue 10, items 1 and 2).

Hooks belong to a sync operation, not to the desired state: after a successful
sync an app with a generateName PreSync hook (deleted when it succeeds) and a
PostSync hook stays Synced, and with selfHeal on no later reconcile starts a new
operation or runs a hook again. An app using a kind the cluster lacks gets
Ready=False with reason UnknownKind naming the kind and the file, and becomes
Synced by itself once the CRD is installed.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine_helpers import crd, tether, wait_for, write
from operator_helpers import (
    GitServer,
    NotYet,
    Operator,
    app_status,
    apply_repo_and_app,
    configmap,
    git_server,
    installed,
    operator,
    refresh_round_trip,
    synced_healthy,
)

pytestmark = pytest.mark.cluster

__all__ = ["git_server", "installed", "operator"]  # fixtures used here

PRESYNC = """apiVersion: batch/v1
kind: Job
metadata:
  generateName: migrate-
  annotations:
    argocd.argoproj.io/hook: PreSync
    argocd.argoproj.io/hook-delete-policy: HookSucceeded
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: busybox:1.36
"""
POSTSYNC = """apiVersion: batch/v1
kind: Job
metadata:
  name: smoke
  annotations:
    helm.sh/hook: post-install,post-upgrade
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: smoke
        image: busybox:1.36
"""


def jobs(kubectl: Any, ns: str) -> dict[str, str]:
    """Job name -> uid."""
    items = kubectl.json("get", "jobs", "-n", ns)["items"]
    return {j["metadata"]["name"]: j["metadata"]["uid"] for j in items}


def test_hooks_never_count_as_drift_and_self_heal_stays_quiet(
    operator: Operator, git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    path = f"{namespace}/hooks"
    git_server.push(
        {
            f"{path}/cm.yaml": configmap("web", "v1"),
            f"{path}/pre.yaml": PRESYNC,
            f"{path}/post.yaml": POSTSYNC,
        },
        message="hooks",
    )
    apply_repo_and_app(
        kubectl, namespace, git_server.url(), path, automated={"prune": True, "selfHeal": True}
    )

    def synced_once() -> Any:
        status = synced_healthy(kubectl, namespace)()
        op = (status or {}).get("operationState") or {} if status else {}
        return status if op.get("phase") == "Succeeded" else NotYet(status or {})

    status = wait_for("Synced after one successful sync", synced_once, timeout=120)
    hooks = [r for r in status["resources"] if r.get("hook")]
    assert {r["kind"] for r in hooks} == {"Job"} and len(hooks) == 2
    assert all(r.get("status") != "OutOfSync" for r in hooks)
    before = jobs(kubectl, namespace)
    assert list(before) == ["smoke"]  # the PreSync Job deleted itself (HookSucceeded)
    history = len(status.get("history") or [])
    started = status["operationState"]["startedAt"]

    for _ in range(2):  # two whole reconciles after the sync, each a positive signal
        later = refresh_round_trip(kubectl, namespace)
        assert later["sync"]["status"] == "Synced", later.get("message")
        assert later["operationState"]["startedAt"] == started  # no new operation
        assert len(later.get("history") or []) == history
    assert jobs(kubectl, namespace) == before  # no hook ran again


def test_cli_diff_is_clean_right_after_a_sync_with_hooks(
    cluster: Any, kubectl: Any, namespace: str, tmp_path: Any
) -> None:
    src = write(tmp_path / "src", cm=configmap("web", "v1"), pre=PRESYNC, post=POSTSYNC)
    args = (str(src), "--app", "cli-hooks", "-n", namespace)
    for _ in range(2):
        synced = tether(cluster, "sync", *args)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        diff = tether(cluster, "diff", *args)
        assert diff.returncode == 0, diff.stdout + diff.stderr
        assert "to create" not in diff.stdout and "would be pruned" not in diff.stdout


def test_unknown_kind_is_a_named_reason_and_recovers_when_the_crd_appears(
    operator: Operator, git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    group = f"{namespace}.example.com"
    path = f"{namespace}/crdless"
    gadget = f"apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: g1\nspec:\n  size: 1\n"
    git_server.push(
        {f"{path}/cm.yaml": configmap("plain", "v1"), f"{path}/gadget.yaml": gadget},
        message="unknown kind",
    )
    apply_repo_and_app(kubectl, namespace, git_server.url(), path, automated={"prune": True})

    def unknown_kind() -> Any:
        status = app_status(kubectl, namespace)
        ready = {c["type"]: c for c in status.get("conditions") or ()}.get("Ready") or {}
        return status if ready.get("reason") == "UnknownKind" else NotYet(status)

    status = wait_for("Ready=False with reason UnknownKind", unknown_kind, timeout=60)
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert ready["status"] == "False"
    assert "Gadget" in ready["message"] and "gadget.yaml" in ready["message"]
    assert status["sync"]["status"] == "Unknown"

    kubectl.apply(crd(group, "Gadget", "gadgets"))
    try:
        wait_for("Synced after the CRD appears", synced_healthy(kubectl, namespace), timeout=120)
        assert kubectl.json("get", f"gadgets.{group}", "g1", "-n", namespace)["spec"] == {"size": 1}
    finally:
        kubectl.run("delete", "crd", f"gadgets.{group}", "--wait=false", check=False)
