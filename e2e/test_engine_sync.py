"""The sync engine against the real control plane: Git prune, waves, hooks, resume,
noise confirmation and a differential check against ``kubectl apply``."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import crd, first_node, git, tether, tether_argv, wait_for, write
from tether.identity import APP_LABEL, TRACKING_ANNOTATION

pytestmark = pytest.mark.cluster

GATE_LABEL = "e2e.tether.dev/gate"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
GADGET_SCHEMA = {
    "type": "object",
    "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
}

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  annotations: {{tether.dev/sync-wave: "{wave}"}}
data: {{a: "1"}}
"""
SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""
# Becomes Available only once some node carries GATE_LABEL=<gate>: the test decides when.
GATED_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gated
  annotations: {{tether.dev/sync-wave: "{wave}"}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: gated}}}}
  template:
    metadata: {{labels: {{app: gated}}}}
    spec:
      nodeSelector: {{"{label}": "{gate}"}}
      containers:
      - name: main
        image: nginx:1.25
"""
PRESYNC_JOB = """
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    tether.dev/hook: PreSync
    tether.dev/hook-delete-policy: BeforeHookCreation
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: busybox:1.36
"""


def cm(name: str, wave: int = 0) -> str:
    return CONFIGMAP.format(name=name, wave=wave)


def gated(gate: str, wave: int) -> str:
    return GATED_DEPLOYMENT.format(label=GATE_LABEL, gate=gate, wave=wave)


def exists(kubectl: Any, kind: str, name: str, namespace: str) -> bool:
    out = kubectl.run("get", kind, name, "-n", namespace, "--ignore-not-found", "-o", "name")
    return bool(out.stdout.strip())


def applied(proc: subprocess.Popen[str], kubectl: Any, name: str, namespace: str) -> bool:
    """The Deployment exists; fails at once if the sync process already ended."""
    if proc.poll() is not None:
        out, err = proc.communicate()
        pytest.fail(f"tether sync ended early ({proc.returncode}):\n{out}\n{err}")
    return exists(kubectl, "deployment", name, namespace)


def unschedulable(kubectl: Any, namespace: str) -> bool:
    pods = kubectl.json("get", "pods", "-n", namespace)["items"]
    return any(
        c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable"
        for pod in pods
        for c in (pod.get("status") or {}).get("conditions") or ()
    )


@pytest.fixture
def open_gate(kubectl: Any) -> Iterator[Callable[[str], None]]:
    """Label a node so that Deployments gated on ``gate`` can schedule; unlabel after."""
    node = first_node(kubectl)
    opened: list[str] = []

    def open_(gate: str) -> None:
        kubectl.run("label", "node", node, f"{GATE_LABEL}={gate}", "--overwrite")
        opened.append(gate)

    yield open_
    if opened:
        kubectl.run("label", "node", node, f"{GATE_LABEL}-", check=False)


def test_git_commit_removing_an_object_is_listed_then_pruned_only_with_prune(
    cluster: Any, namespace: str, tmp_path: Path, kubectl: Any
) -> None:
    bare, work = tmp_path / "repo.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    write(work / "app", cfg=cm("cfg"), svc=SERVICE)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "two objects")
    git(work, "push", "-q", str(bare), "main")
    first_commit = git(work, "rev-parse", "HEAD")
    args = (f"file://{bare}", "--insecure", "--revision", "main", "--path", "app")
    args += ("--app", "gitapp", "-n", namespace)
    state_file = tmp_path / "state.json"

    synced = tether(cluster, "sync", *args, "--state-file", str(state_file))
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert json.loads(state_file.read_text())["revision"] == first_commit

    (work / "app" / "cfg.yaml").unlink()
    git(work, "commit", "-q", "-am", "drop the ConfigMap")
    git(work, "push", "-q", str(bare), "main")

    diff = tether(cluster, "diff", *args)
    assert diff.returncode == 1, diff.stdout + diff.stderr
    assert "would be pruned:" in diff.stdout and f"ConfigMap {namespace}/cfg" in diff.stdout

    kept = tether(cluster, "sync", *args)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "pruned" not in kept.stdout
    assert exists(kubectl, "configmap", "cfg", namespace)

    pruned = tether(cluster, "sync", *args, "--prune")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert f"ConfigMap {namespace}/cfg pruned" in pruned.stdout
    assert not exists(kubectl, "configmap", "cfg", namespace)
    assert exists(kubectl, "service", "web", namespace)
    assert tether(cluster, "diff", *args).returncode == 0


def test_wave_one_starts_only_after_wave_zero_is_healthy(
    cluster: Any, namespace: str, tmp_path: Path, kubectl: Any, open_gate: Callable[[str], None]
) -> None:
    src = write(tmp_path / "src", deploy=gated(namespace, 0), second=cm("second", 1))
    argv = tether_argv(cluster, "sync", str(src), "--app", "waves", "-n", namespace)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for("wave 0 applied", lambda: applied(proc, kubectl, "gated", namespace))
        # The positive signal: the scheduler has judged wave 0's pod unschedulable, so
        # the gate has been looking at an unhealthy Deployment for a while; without a
        # gate, wave 1 would have been created right after wave 0.
        wait_for("wave 0's pod to be unschedulable", lambda: unschedulable(kubectl, namespace))
        assert proc.poll() is None
        assert not exists(kubectl, "configmap", "second", namespace)
        open_gate(namespace)
        out, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    deploy = kubectl.json("get", "deployment", "gated", "-n", namespace)
    available = next(c for c in deploy["status"]["conditions"] if c["type"] == "Available")
    assert available["status"] == "True"
    second = kubectl.json("get", "configmap", "second", "-n", namespace)
    assert available["lastTransitionTime"] <= second["metadata"]["creationTimestamp"]
    assert out.index("Deployment ") < out.index("ConfigMap ")


def test_presync_hook_completes_before_sync_and_is_recreated_next_time(
    cluster: Any, namespace: str, tmp_path: Path, kubectl: Any
) -> None:
    src = write(tmp_path / "src", job=PRESYNC_JOB, app=cm("app"))
    first = tether(cluster, "sync", str(src), "--app", "hooks", "-n", namespace)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "hook succeeded" in first.stdout
    assert first.stdout.index("Job ") < first.stdout.index("ConfigMap ")
    job = kubectl.json("get", "job", "migrate", "-n", namespace)
    assert job["status"].get("succeeded") == 1
    created = kubectl.json("get", "configmap", "app", "-n", namespace)["metadata"]
    assert job["status"]["completionTime"] <= created["creationTimestamp"]

    second = tether(cluster, "sync", str(src), "--app", "hooks", "-n", namespace)
    assert second.returncode == 0, second.stdout + second.stderr
    again = kubectl.json("get", "job", "migrate", "-n", namespace)
    assert again["metadata"]["uid"] != job["metadata"]["uid"]  # BeforeHookCreation
    assert again["status"].get("succeeded") == 1


def test_killed_sync_resumes_from_saved_state_without_redoing_steps(
    cluster: Any, namespace: str, tmp_path: Path, kubectl: Any, open_gate: Callable[[str], None]
) -> None:
    src = write(
        tmp_path / "src", early=cm("early", 0), deploy=gated(namespace, 1), late=cm("late", 2)
    )
    state_file = tmp_path / "state.json"
    args = ("sync", str(src), "--app", "resume", "-n", namespace, "--timeout", "120s")
    args += ("--state-file", str(state_file))
    proc = subprocess.Popen(
        tether_argv(cluster, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for("the slow wave", lambda: applied(proc, kubectl, "gated", namespace))
        wait_for("wave 0 persisted", lambda: state_file.exists())
        time.sleep(0.5)
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    saved = json.loads(state_file.read_text())
    assert saved["phase"] == "Running" and saved["nextStep"] == 1
    done_labels = [s["label"] for s in saved["steps"]]
    assert len(done_labels) == 1
    early_rv = kubectl.json("get", "configmap", "early", "-n", namespace)["metadata"][
        "resourceVersion"
    ]
    assert not exists(kubectl, "configmap", "late", namespace)

    open_gate(namespace)
    resumed = tether(cluster, *args)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert done_labels[0] not in resumed.stdout  # the finished step is not run again
    assert "ConfigMap " + namespace + "/early" not in resumed.stdout
    assert f"ConfigMap {namespace}/late created" in resumed.stdout
    final = json.loads(state_file.read_text())
    assert final["phase"] == "Succeeded" and final["planId"] == saved["planId"]
    assert final["steps"][0] == saved["steps"][0]  # the first run's record is kept
    assert len(final["steps"]) == 3
    again = kubectl.json("get", "configmap", "early", "-n", namespace)
    assert again["metadata"]["resourceVersion"] == early_rv


async def test_normalization_noise_is_confirmed_by_dry_run_once_then_free(
    cluster: Any, namespace: str, tmp_path: Path, kubectl: Any
) -> None:
    """The server prunes an unknown field: the local patch is noise, never drift."""
    from tether.appspec import spec_from_flags
    from tether.engine import Engine

    group = f"noise{uuid.uuid4().hex[:8]}.example.com"
    kubectl.apply(crd(group, "Gadget", "gadgets", GADGET_SCHEMA))
    kubectl.run("wait", "--for=condition=Established", f"crd/gadgets.{group}", "--timeout=30s")
    gadget = {
        "apiVersion": f"{group}/v1",
        "kind": "Gadget",
        "metadata": {"name": "g1"},
        "spec": {"size": 3, "unknownField": "pruned by the server"},
    }
    src = write(tmp_path / "src", gadget=json.dumps(gadget))
    try:
        synced = tether(cluster, "sync", str(src), "--app", "noise", "-n", namespace)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        live = kubectl.json("get", f"gadgets.{group}", "g1", "-n", namespace)
        assert "unknownField" not in live["spec"]
        diff = tether(cluster, "diff", str(src), "--app", "noise", "-n", namespace)
        assert diff.returncode == 0, diff.stdout + diff.stderr

        engine = await Engine.connect(str(cluster.kubeconfig))
        try:
            app = spec_from_flags(app="noise", namespace=namespace)
            counter = engine.client.counter
            first = await engine.diff(app, [gadget], revision="r1")
            assert first.in_sync
            assert counter.dry_runs == 1 and counter.writes == 0
            counter.reset()
            second = await engine.diff(app, [gadget], revision="r1")
            assert second.in_sync
            assert counter.dry_runs == 0 and counter.writes == 0 and counter.total() == 0
            state = await engine.sync(app, [gadget])
            assert state.phase.value == "Succeeded"
            assert state.changes.counts() == {"unchanged": 1}
            assert counter.writes == 0
        finally:
            await engine.close()
    finally:
        kubectl.run("delete", "crd", f"gadgets.{group}", "--wait=false", check=False)


GENERATED = {
    "deploy": """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        args: ["--port", "8080"]
        env: [{name: A, value: "1"}, {name: B, value: "yes"}]
        ports: [{containerPort: 8080, name: http}, {containerPort: 9090, name: metrics}]
        resources: {limits: {cpu: "0.5", memory: 1Gi}, requests: {cpu: 100m}}
      - name: sidecar
        image: busybox:1.36
""",
    "svc": """
apiVersion: v1
kind: Service
metadata: {name: web, annotations: {note: "<b>&</b>"}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}, {name: metrics, port: 9090}]
""",
    "cm": """
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {enabled: "yes", mode: "0755", empty: ""}
""",
    "secret": """
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {user: admin, password: s3cret}
""",
}


def _edited() -> dict[str, str]:
    """The same files after an edit that changes, adds and removes fields and list items."""
    files = dict(GENERATED)
    files["deploy"] = (
        files["deploy"]
        .replace("replicas: 2", "replicas: 3")
        .replace(', {name: B, value: "yes"}', "")
        .replace(", {containerPort: 9090, name: metrics}", "")
        .replace("      - name: sidecar\n        image: busybox:1.36\n", "")
        .replace(", tier: front", "")
    )
    files["svc"] = files["svc"].replace(", {name: metrics, port: 9090}", "")
    files["cm"] = files["cm"].replace(', empty: ""', ', added: "on"')
    files["secret"] = files["secret"].replace("password: s3cret", "token: t0ken")
    return files


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without what legitimately differs: server bookkeeping, namespace, IPs,
    status and Tether's tracking label/annotation (also inside last-applied)."""
    meta = dict(obj["metadata"])
    for key in (
        "managedFields",
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
        "namespace",
    ):
        meta.pop(key, None)
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != APP_LABEL}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k != TRACKING_ANNOTATION
    }
    if LAST_APPLIED in annotations:
        annotations[LAST_APPLIED] = _comparable(json.loads(annotations[LAST_APPLIED]))
    meta["labels"], meta["annotations"] = labels or None, annotations or None
    out = {k: v for k, v in obj.items() if k != "status"}
    out["metadata"] = meta
    spec = out.get("spec")
    if obj["kind"] == "Service" and isinstance(spec, dict):
        out["spec"] = {k: v for k, v in spec.items() if k not in ("clusterIP", "clusterIPs")}
    return out


def _live_set(kubectl: Any, namespace: str) -> dict[str, dict[str, Any]]:
    listed = kubectl.json("get", "deployment,service,configmap,secret", "-n", namespace)
    return {
        f"{o['kind']}/{o['metadata']['name']}": _comparable(o)
        for o in listed["items"]
        if o["metadata"]["name"] in ("web", "cfg", "creds")
    }


def test_tether_and_kubectl_apply_give_identical_live_objects(
    cluster: Any, namespace: str, tmp_path: Path, kubectl: Any
) -> None:
    other = f"{namespace[:50]}-kc"
    kubectl.run("create", "namespace", other)
    try:
        for round_files in (GENERATED, _edited()):
            src = write(tmp_path / "src", **round_files)
            synced = tether(cluster, "sync", str(src), "--app", "diffcheck", "-n", namespace)
            assert synced.returncode == 0, synced.stdout + synced.stderr
            kubectl.run("apply", "-f", str(src), "-n", other)
            ours, theirs = _live_set(kubectl, namespace), _live_set(kubectl, other)
            assert sorted(ours) == [
                "ConfigMap/cfg",
                "Deployment/web",
                "Secret/creds",
                "Service/web",
            ]
            for name in sorted(ours):
                assert ours[name] == theirs[name], name
        deploy = _live_set(kubectl, namespace)["Deployment/web"]
        containers = deploy["spec"]["template"]["spec"]["containers"]
        assert [c["name"] for c in containers] == ["web"]  # the removed sidecar is gone
        assert [e["name"] for e in containers[0]["env"]] == ["A"]
    finally:
        kubectl.run("delete", "namespace", other, "--wait=false", check=False)


async def test_ignore_differences_by_manager_and_pointer(
    cluster: Any, namespace: str, kubectl: Any
) -> None:
    """A field another manager owns is not drift for an app that ignores that manager,
    and sync leaves it alone; the same edit is drift for an app without the rule."""
    from tether.appspec import spec_from_flags
    from tether.diff import IgnoreRule
    from tether.engine import Engine

    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "scaled", "annotations": {"owner": "git"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "scaled"}},
            "template": {
                "metadata": {"labels": {"app": "scaled"}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]},
            },
        },
    }
    plain = spec_from_flags(app="ignore", namespace=namespace)
    by_manager = spec_from_flags(
        app="ignore",
        namespace=namespace,
        ignore=(IgnoreRule(group="apps", kind="Deployment", managed_fields_managers=("hpa-sim",)),),
    )
    by_pointer = spec_from_flags(
        app="ignore",
        namespace=namespace,
        ignore=(IgnoreRule(kind="Deployment", json_pointers=("/metadata/annotations/owner",)),),
    )
    engine = await Engine.connect(str(cluster.kubeconfig))
    try:
        assert (await engine.sync(plain, [deploy])).phase.value == "Succeeded"
        kubectl.run(
            "patch", "deployment", "scaled", "-n", namespace, "--type=merge",
            "-p", '{"spec":{"replicas":5}}', "--field-manager=hpa-sim",
        )  # fmt: skip
        kubectl.run("annotate", "deployment", "scaled", "-n", namespace, "owner=ops", "--overwrite")
        await asyncio.sleep(0.5)  # let the watch deliver both edits
        drift = await engine.diff(plain, [deploy])
        (entry,) = drift.by_status("out-of-sync")
        assert "replicas: 5" in entry.diff and "owner: ops" in entry.diff
        engine.client.counter.reset()
        again = await engine.diff(plain, [deploy])  # drift already confirmed by the server
        assert len(again.by_status("out-of-sync")) == 1 and engine.client.counter.total() == 0

        managed = await engine.diff(by_manager, [deploy])
        (entry,) = managed.by_status("out-of-sync")  # only the annotation is left
        assert "replicas" not in entry.diff and "owner: ops" in entry.diff

        both = spec_from_flags(
            app="ignore", namespace=namespace, ignore=by_manager.ignore + by_pointer.ignore
        )
        assert (await engine.diff(both, [deploy])).in_sync
        state = await engine.sync(both, [deploy])
        assert state.changes.counts() == {"unchanged": 1}
        live = kubectl.json("get", "deployment", "scaled", "-n", namespace)
        assert live["spec"]["replicas"] == 5
        assert live["metadata"]["annotations"]["owner"] == "ops"

        repaired = await engine.sync(plain, [deploy])
        assert repaired.changes.counts() == {"configured": 1}
        live = kubectl.json("get", "deployment", "scaled", "-n", namespace)
        assert live["spec"]["replicas"] == 2 and live["metadata"]["annotations"]["owner"] == "git"
    finally:
        await engine.close()
