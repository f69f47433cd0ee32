"""Sharding across replicas (`tether run --shards 3`) on the real control plane.

Three local shard processes share 60 Applications (ConfigMaps; six also run a
PostSync hook Job) with short Leases (3 s, renewed every second), acting through
the chart's ServiceAccount with its sharding RBAC:

- every app is claimed by exactly the shard the ring of the live members names,
  and the shards' ``tether_shard_apps_owned`` add up to 60;
- while the hook apps' operations wait on their PostSync Jobs (the Jobs' pods wait
  for a node label), the shard owning one of them is SIGKILLed: its apps move to
  the two others, which resume its operations; a live edit on a moved app is healed;
- with new operations again waiting on their hooks, a fourth shard joins and takes
  its share, including an app whose operation the previous owner hands off;
- a raw watch counts the Jobs the server created: one per hook and operation.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from operator_helpers import (
    RELEASE_NS,
    GitServer,
    JobWatch,
    NotYet,
    Operator,
    configmap,
    git_server,
    install_chart,
    spawn_operator,
    stop_operator,
    wait_for,
    wait_ready,
)
from tether.sharding.claims import CLAIM_ANNOTATION
from tether.sharding.ring import HashRing

pytestmark = pytest.mark.cluster

__all__ = ["git_server"]

APPS = 60
HOOK_APPS = 6  # app-0 .. app-5 also run a PostSync hook Job
LEASE_SECONDS = 3
SHARD_ARGS = (
    "--shards=3",
    f"--shard-lease-duration={LEASE_SECONDS}",
    "--shard-renew-period=1",
    f"--leader-election-namespace={RELEASE_NS}",
    "--concurrency=8",
)
NODE = "kwok-node-0"


def hook_job(name: str, node_label: str) -> str:
    """A PostSync Job whose pod runs only on a node carrying ``node_label``."""
    return f"""apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  annotations:
    argocd.argoproj.io/hook: PostSync
    argocd.argoproj.io/hook-delete-policy: BeforeHookCreation
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {{{node_label}: "yes"}}
      containers:
        - name: run
          image: registry.invalid/{name}:1
"""


def app_files(ns: str, round_: int, node_label: str) -> dict[str, str]:
    files = {}
    for i in range(APPS):
        files[f"{ns}/app-{i}/cm.yaml"] = configmap(f"cm-{i}", f"{round_}" if i < HOOK_APPS else "0")
        if i < HOOK_APPS:
            files[f"{ns}/app-{i}/post.yaml"] = hook_job(f"post-{i}", node_label)
    return files


def application(ns: str, i: int) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": f"app-{i}", "namespace": ns},
        "spec": {
            "source": {
                "repositoryRef": {"name": "repo"},
                "revision": "main",
                "path": f"{ns}/app-{i}",
            },
            "destination": {"namespace": ns},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
            "interval": "60s",
        },
    }


@pytest.fixture(scope="module")
def sharded_install(cluster: Any, kubectl: Any) -> Path:
    return install_chart(cluster, kubectl, "sharding.enabled=true", "sharding.replicas=0")


class Shards:
    """The running shard processes by id; SIGTERMed at the end."""

    def __init__(self, kubeconfig: Path, tmp: Path) -> None:
        self.kubeconfig = kubeconfig
        self.tmp = tmp
        self.running: dict[str, Operator] = {}
        self.all: list[Operator] = []

    def start(self, *ids: str) -> None:
        spawned = {}
        for shard in ids:
            folder = self.tmp / shard
            folder.mkdir()
            spawned[shard] = spawn_operator(
                self.kubeconfig, folder, *SHARD_ARGS, f"--shard-id={shard}"
            )
        for shard, op in spawned.items():
            wait_ready(op)
            self.running[shard] = op
            self.all.append(op)

    def kill(self, shard: str) -> None:
        op = self.running.pop(shard)
        op.process.send_signal(signal.SIGKILL)
        op.process.wait(10)

    def owned_metric(self) -> dict[str, int]:
        out = {}
        for shard, op in self.running.items():
            found = re.search(
                rf'^tether_shard_apps_owned\{{shard="{shard}"\}} (\S+)$', op.metrics(), re.M
            )
            out[shard] = int(float(found.group(1))) if found else -1
        return out

    def logs(self) -> str:
        return "".join(op.logs() for op in self.all)


@pytest.fixture
def shards(sharded_install: Path, tmp_path: Path) -> Iterator[Shards]:
    running = Shards(sharded_install, tmp_path)
    try:
        yield running
    finally:
        for op in running.running.values():
            stop_operator(op)


def apps_of(kubectl: Any, ns: str) -> dict[str, dict[str, Any]]:
    items = kubectl.json("get", "applications.tether.dev", "-n", ns)["items"]
    return {a["metadata"]["name"]: a for a in items}


def claim(app: dict[str, Any]) -> str:
    return str((app["metadata"].get("annotations") or {}).get(CLAIM_ANNOTATION) or "")


def placed_by_ring(kubectl: Any, ns: str, members: set[str], shards: Shards) -> Any:
    """A check: all apps Synced+Healthy, each claimed by its ring owner among ``members``,
    and the shards' owned-app gauges agree."""
    ring = HashRing.of(members)

    def check() -> Any:
        apps = apps_of(kubectl, ns)
        wrong = {
            name: (claim(a), ring.owner(a["metadata"]["uid"]), (a.get("status") or {}).get("sync"))
            for name, a in apps.items()
            if claim(a) != ring.owner(a["metadata"]["uid"])
            or ((a.get("status") or {}).get("sync") or {}).get("status") != "Synced"
            or ((a.get("status") or {}).get("health") or {}).get("status") != "Healthy"
        }
        expected = {m: 0 for m in members}
        for a in apps.values():
            expected[str(ring.owner(a["metadata"]["uid"]))] += 1
        gauges = shards.owned_metric()
        ok = len(apps) == APPS and not wrong and gauges == expected
        return apps if ok else NotYet({"wrong": dict(list(wrong.items())[:8]), "gauges": gauges})

    return check


def hook_operations(kubectl: Any, ns: str, revision: str, phase: str) -> Any:
    """A check: every hook app's operation is at ``revision`` and in ``phase``; a Running
    one has created its hook (the hook is recorded in the operation state)."""

    def check() -> Any:
        apps = apps_of(kubectl, ns)
        ops = {
            f"app-{i}": (apps.get(f"app-{i}", {}).get("status") or {}).get("operationState") or {}
            for i in range(HOOK_APPS)
        }
        there = all(
            str(op.get("revision", "")).endswith(revision)
            and op.get("phase") == phase
            and (phase != "Running" or (op.get("plan") or {}).get("hooks"))
            for op in ops.values()
        )
        return ops if there else NotYet(ops)

    return check


def hold_hooks(kubectl: Any, git_server: GitServer, ns: str, label: str, round_: int) -> str:
    """Take the node label away, push round ``round_`` and wait until every hook app's
    operation at that commit waits on its hook Job; returns the commit."""
    kubectl.run("label", "node", NODE, f"{label}-")
    revision = git_server.push(app_files(ns, round_, label), message=f"round {round_}")
    kubectl.run(
        "annotate", "repositories.tether.dev", "repo", "-n", ns,
        f"tether.dev/refresh=round-{round_}", "--overwrite",
    )  # fmt: skip
    wait_for(
        f"round {round_}: hook operations waiting on their Jobs",
        hook_operations(kubectl, ns, revision, "Running"),
        timeout=90,
    )
    return revision


def test_three_shards_share_apps_move_them_on_kill_and_join_and_run_each_hook_once(
    shards: Shards,
    git_server: GitServer,
    kubectl: Any,
    cluster: Any,
    namespace: str,
) -> None:
    label = f"tether-shard-test-{namespace[-6:]}"
    kubectl.run("label", "node", NODE, f"{label}=yes", "--overwrite")
    watch = JobWatch(str(cluster.kubeconfig), namespace)
    try:
        # -- three shards, sixty apps ---------------------------------------------------
        shards.start("shard-a", "shard-b", "shard-c")
        git_server.push(app_files(namespace, 1, label), message="sixty apps")
        kubectl.apply(
            [
                {
                    "apiVersion": "tether.dev/v1alpha1",
                    "kind": "Repository",
                    "metadata": {"name": "repo", "namespace": namespace},
                    "spec": {"url": git_server.url(), "insecure": True, "interval": "60s"},
                },
                *(application(namespace, i) for i in range(APPS)),
            ]
        )
        members = {"shard-a", "shard-b", "shard-c"}
        apps = wait_for(
            "every app claimed by its ring owner among 3 shards",
            placed_by_ring(kubectl, namespace, members, shards),
            timeout=180,
        )
        assert {claim(a) for a in apps.values()} == members  # each shard has a share

        # -- SIGKILL the owner of app-0 while the hook apps' operations are in flight ---
        revision = hold_hooks(kubectl, git_server, namespace, label, 2)
        victim = claim(apps["app-0"])
        moved = sorted(n for n, a in apps.items() if claim(a) == victim)
        shards.kill(victim)
        members.discard(victim)
        kubectl.run("label", "node", NODE, f"{label}=yes", "--overwrite")
        wait_for(
            "round 2: hook operations resumed and finished",
            hook_operations(kubectl, namespace, revision, "Succeeded"),
            timeout=120,
        )
        apps = wait_for(
            f"the apps of {victim} claimed by the survivors",
            placed_by_ring(kubectl, namespace, members, shards),
            timeout=120,
        )
        assert {claim(apps[n]) for n in moved} <= members
        # A live edit on a moved (non-hook) app is healed by its new owner.
        edited = next(n for n in moved if int(n.split("-")[1]) >= HOOK_APPS)
        cm = f"cm-{edited.split('-')[1]}"
        kubectl.run("patch", "configmap", cm, "-n", namespace, "-p", '{"data":{"key":"tampered"}}')
        wait_for(
            f"the live edit of {cm} (app {edited}, moved from {victim}) healed",
            lambda: (
                kubectl.json("get", "configmap", cm, "-n", namespace)["data"]["key"] == "0"
                or NotYet(kubectl.json("get", "configmap", cm, "-n", namespace)["data"])
            ),
            timeout=60,
        )

        # -- a new shard joins while operations wait on their hooks --------------------
        revision = hold_hooks(kubectl, git_server, namespace, label, 3)
        uids = {f"app-{i}": apps[f"app-{i}"]["metadata"]["uid"] for i in range(HOOK_APPS)}
        joiner = next(
            name
            for name in (f"shard-{n}" for n in range(100))
            if any(HashRing.of({*members, name}).owner(u) == name for u in uids.values())
        )  # a name that takes at least one app whose operation is in flight
        shards.start(joiner)
        members.add(joiner)
        kubectl.run("label", "node", NODE, f"{label}=yes", "--overwrite")
        wait_for(
            "round 3: hook operations finished",
            hook_operations(kubectl, namespace, revision, "Succeeded"),
            timeout=120,
        )
        apps = wait_for(
            f"apps moved to {joiner}",
            placed_by_ring(kubectl, namespace, members, shards),
            timeout=120,
        )
        assert joiner in {claim(a) for a in apps.values()}

        # -- one Job per hook and operation ---------------------------------------------
        last_ops = {
            f"post-{i}": apps[f"app-{i}"]["status"]["operationState"]["plan"]["operationId"]
            for i in range(HOOK_APPS)
        }
        wait_for(
            "the Job watch to see the last operations' hooks",
            lambda: (
                all((job, op) in watch.runs_by_name() for job, op in last_ops.items())
                or NotYet(watch.runs_by_name())
            ),
            timeout=30,
        )
        runs = watch.runs_by_name()
        per_hook: dict[str, int] = {}
        for (job, _op), _n in runs.items():
            per_hook[job] = per_hook.get(job, 0) + 1
        assert set(per_hook) == set(last_ops) and min(per_hook.values()) >= 3, runs  # 3 rounds
        assert set(runs.values()) == {1}, runs  # no operation ran its hook twice
        assert "Traceback" not in shards.logs()
    finally:
        watch.stop()
        kubectl.run("label", "node", NODE, f"{label}-", check=False)
