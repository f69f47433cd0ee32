"""`tether diff` / `tether sync` against the real control plane, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import crd as make_crd
from engine_helpers import tether, write

pytestmark = pytest.mark.cluster

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports: [{containerPort: 8080}]
        resources: {limits: {cpu: 500m, memory: 1Gi}}
"""
CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: "1", b: "yes"}
"""
SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return write(tmp_path / "src", cm=CONFIGMAP, svc=SERVICE, deploy=DEPLOYMENT)


def test_sync_then_diff_is_clean(cluster: Any, namespace: str, src: Path, kubectl: Any) -> None:
    first = tether(cluster, "diff", str(src), "--app", "demo", "-n", namespace)
    assert first.returncode == 1, first.stderr
    assert "to create:" in first.stdout and "Deployment" in first.stdout
    synced = tether(cluster, "sync", str(src), "--app", "demo", "-n", namespace)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "created" in synced.stdout
    diff = tether(cluster, "diff", str(src), "--app", "demo", "-n", namespace)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    labels = kubectl.json("get", "cm", "cfg", "-n", namespace)["metadata"]["labels"]
    assert labels["tether.dev/app"] == f"{namespace}_demo"


def test_live_edit_is_drift_and_sync_repairs_it(
    cluster: Any, namespace: str, src: Path, kubectl: Any
) -> None:
    assert tether(cluster, "sync", str(src), "--app", "demo", "-n", namespace).returncode == 0
    kubectl.run(
        "patch", "deploy", "web", "-n", namespace, "--type=merge", "-p", '{"spec":{"replicas":5}}'
    )
    diff = tether(cluster, "diff", str(src), "--app", "demo", "-n", namespace)
    assert diff.returncode == 1
    assert "-  replicas: 5" in diff.stdout and "+  replicas: 2" in diff.stdout
    synced = tether(cluster, "sync", str(src), "--app", "demo", "-n", namespace)
    assert (
        synced.returncode == 0 and "Deployment " in synced.stdout and "configured" in synced.stdout
    )
    assert kubectl.json("get", "deploy", "web", "-n", namespace)["spec"]["replicas"] == 2
    assert tether(cluster, "diff", str(src), "--app", "demo", "-n", namespace).returncode == 0


def test_field_of_second_manager_is_not_drift_and_is_kept(
    cluster: Any, namespace: str, src: Path, kubectl: Any
) -> None:
    assert tether(cluster, "sync", str(src), "--app", "demo", "-n", namespace).returncode == 0
    kubectl.run("label", "cm", "cfg", "-n", namespace, "other.io/owner=controller")
    kubectl.run("annotate", "svc", "web", "-n", namespace, "other.io/note=kept")
    assert tether(cluster, "diff", str(src), "--app", "demo", "-n", namespace).returncode == 0
    synced = tether(cluster, "sync", str(src), "--app", "demo", "-n", namespace)
    assert synced.returncode == 0
    assert "configured" not in synced.stdout
    cm = kubectl.json("get", "cm", "cfg", "-n", namespace)
    assert cm["metadata"]["labels"]["other.io/owner"] == "controller"
    svc = kubectl.json("get", "svc", "web", "-n", namespace)
    assert svc["metadata"]["annotations"]["other.io/note"] == "kept"


def test_removed_object_is_listed_then_pruned(
    cluster: Any, namespace: str, src: Path, kubectl: Any
) -> None:
    assert tether(cluster, "sync", str(src), "--app", "demo", "-n", namespace).returncode == 0
    write(src, svc=SERVICE, deploy=DEPLOYMENT)
    diff = tether(cluster, "diff", str(src), "--app", "demo", "-n", namespace)
    assert diff.returncode == 1
    assert "would be pruned:" in diff.stdout and f"ConfigMap {namespace}/cfg" in diff.stdout
    keep = tether(cluster, "sync", str(src), "--app", "demo", "-n", namespace)
    assert keep.returncode == 0
    assert kubectl.run("get", "cm", "cfg", "-n", namespace, check=False).returncode == 0
    pruned = tether(cluster, "sync", str(src), "--app", "demo", "-n", namespace, "--prune")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert "pruned" in pruned.stdout
    gone = kubectl.run("get", "cm", "cfg", "-n", namespace, "--ignore-not-found", "-o", "name")
    assert gone.stdout.strip() == ""


def test_dry_run_changes_nothing(cluster: Any, namespace: str, src: Path, kubectl: Any) -> None:
    result = tether(cluster, "sync", str(src), "--app", "demo", "-n", namespace, "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(dry run)" in result.stdout
    listed = kubectl.run(
        "get", "cm,svc,deploy", "-n", namespace, "-l", "tether.dev/app", "-o", "name"
    )
    assert listed.stdout.strip() == ""


def test_object_of_another_app_is_refused(
    cluster: Any, namespace: str, src: Path, kubectl: Any
) -> None:
    assert tether(cluster, "sync", str(src), "--app", "first", "-n", namespace).returncode == 0
    before = kubectl.json("get", "cm", "cfg", "-n", namespace)["metadata"]["resourceVersion"]
    other = write(src.parent / "other", cm=CONFIGMAP.replace('a: "1"', 'a: "2"'))
    result = tether(cluster, "sync", str(other), "--app", "second", "-n", namespace)
    assert result.returncode == 1
    assert "another app" in result.stderr and "cfg" in result.stderr
    after = kubectl.json("get", "cm", "cfg", "-n", namespace)
    assert after["metadata"]["resourceVersion"] == before
    assert after["data"]["a"] == "1"


def test_rejected_manifest_names_object_and_reason(
    cluster: Any, namespace: str, src: Path, kubectl: Any
) -> None:
    assert tether(cluster, "sync", str(src), "--app", "demo", "-n", namespace).returncode == 0
    bad_cm = CONFIGMAP.replace("name: cfg", "name: Bad_Name")
    early = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: early\n  annotations: {tether.dev/sync-wave: '-1'}\n"
    write(src, sa=early, bad=bad_cm, deploy=DEPLOYMENT)
    result = tether(cluster, "sync", str(src), "--app", "demo", "-n", namespace, "--prune")
    assert result.returncode == 1
    assert (
        "ConfigMap" in result.stdout + result.stderr and "Bad_Name" in result.stdout + result.stderr
    )
    assert "Invalid" in result.stdout + result.stderr
    # the earlier wave is kept; nothing was pruned (the Service would have been)
    assert kubectl.run("get", "sa", "early", "-n", namespace, check=False).returncode == 0
    assert kubectl.run("get", "svc", "web", "-n", namespace, check=False).returncode == 0


def test_crd_and_cr_in_one_source(
    cluster: Any, namespace: str, tmp_path: Path, kubectl: Any
) -> None:
    group = f"{namespace}.example.com"
    crd = make_crd(group, "Widget", "widgets")
    cr = f"apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w1}}\nspec: {{size: 3}}\n"
    src = write(tmp_path / "crd", crd=json.dumps(crd), cr=cr)
    result = tether(cluster, "sync", str(src), "--app", "crd", "-n", namespace)
    assert result.returncode == 0, result.stdout + result.stderr
    got = kubectl.json("get", f"widgets.{group}", "w1", "-n", namespace)
    assert got["spec"]["size"] == 3
    assert tether(cluster, "diff", str(src), "--app", "crd", "-n", namespace).returncode == 0
    kubectl.run("delete", "crd", f"widgets.{group}", "--wait=false")


def test_huge_crd_goes_through_server_side_apply(
    cluster: Any, namespace: str, tmp_path: Path, kubectl: Any
) -> None:
    group = f"big-{namespace}.example.com"
    crd = make_crd(group, "Blob", "blobs")
    props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    props["properties"] = {
        f"field{i:05d}": {"type": "string", "description": "x" * 120} for i in range(2200)
    }
    assert len(json.dumps(crd)) > 262144
    src = write(tmp_path / "big", crd=json.dumps(crd))
    result = tether(cluster, "sync", str(src), "--app", "big", "-n", namespace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "server-side apply" in result.stdout
    live = kubectl.json("get", "crd", f"blobs.{group}", "--show-managed-fields")
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (
        live["metadata"].get("annotations") or {}
    )
    managers = {m["manager"] for m in live["metadata"]["managedFields"]}
    assert "tether" in managers
    assert tether(cluster, "diff", str(src), "--app", "big", "-n", namespace).returncode == 0
    kubectl.run("delete", "crd", f"blobs.{group}", "--wait=false")


def test_impersonated_sa_without_rights_fails_with_rbac_message(
    cluster: Any, namespace: str, src: Path, kubectl: Any
) -> None:
    kubectl.run("create", "serviceaccount", "weak", "-n", namespace)
    result = tether(
        cluster, "sync", str(src), "--app", "demo", "-n", namespace, "--service-account", "weak"
    )
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert "forbidden" in out.lower()
    assert f"system:serviceaccount:{namespace}:weak" in out
    listed = kubectl.run(
        "get", "cm,svc,deploy", "-n", namespace, "-l", "tether.dev/app", "-o", "name"
    )
    assert listed.stdout.strip() == ""


def test_create_namespace_sync_option(cluster: Any, src: Path, kubectl: Any) -> None:
    namespace = f"created-{abs(hash(src)) % 10**8}"
    try:
        without = tether(cluster, "sync", str(src), "--app", "demo", "-n", namespace)
        assert without.returncode == 1
        assert f'namespaces "{namespace}" not found' in without.stdout + without.stderr
        made = tether(
            cluster, "sync", str(src), "--app", "demo", "-n", namespace,
            "--sync-option", "CreateNamespace=true",
        )  # fmt: skip
        assert made.returncode == 0, made.stdout + made.stderr
        assert f"Namespace {namespace} created" in made.stdout
        assert kubectl.json("get", "cm", "cfg", "-n", namespace)["data"]["b"] == "yes"
        bad = tether(cluster, "sync", str(src), "--app", "demo", "--sync-option", "Bogus=1")
        assert bad.returncode == 2 and "unknown sync option Bogus" in bad.stderr
    finally:
        kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)


def test_an_untracked_live_object_is_reported_as_adopted(
    cluster: Any, namespace: str, tmp_path: Path, kubectl: Any
) -> None:
    kubectl.run("create", "configmap", "found", "-n", namespace, "--from-literal=k=old")
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: found\ndata:\n  k: new\n"
    src = write(tmp_path / "adopt", found=cm)
    synced = tether(cluster, "sync", str(src), "--app", "adopter", "-n", namespace)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert f"ConfigMap {namespace}/found adopted" in synced.stdout, synced.stdout
    assert "1 adopted" in synced.stdout
    again = tether(cluster, "sync", str(src), "--app", "adopter", "-n", namespace)
    assert "adopted" not in again.stdout  # tracked now: a later change is "configured"
