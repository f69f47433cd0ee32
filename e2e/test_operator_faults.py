"""Faults and sharp edges of syncing, through the operator on the real control plane.

- The kube-apiserver (of a control plane of this module's own) is SIGKILLed at a random
  point of 5 syncs with two waves and PreSync/PostSync hook Jobs, and restarted on the
  same port and certificates: the app converges each time, each hook ran once.
- Hooks run once per operation: the operator is SIGKILLed at random points of 20 syncs
  with PreSync (generateName), Sync and PostSync hook Jobs, restarted each time, and a
  watch counts every Job the server created, per hook and per operation: exactly one.
- CreateNamespace: once another app manages a ``kind: Namespace`` (so the cache
  watches Namespaces, filtered by Tether's label), a re-sync of a CreateNamespace app
  does not wait for the unlabelled namespace it created.
- A Namespace removed from Git is not pruned while it holds objects the app does not
  own; the app's own objects are pruned, the foreign ones stay. The app gets a
  ``PruneSkipped`` condition and an Event naming them; once they are gone, a sync
  prunes the Namespace and the condition clears.
"""

from __future__ import annotations

import json
import random
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))

from git_servers import git, push_commit, start_git_daemon, stop

from kubectl_runner import Kubectl
from operator_helpers import (
    CHART,
    OPERATION,
    GitServer,
    JobWatch,
    NotYet,
    Operator,
    app_status,
    apply_repo_and_app,
    condition,
    configmap,
    git_server,
    installed,
    namespace_project,
    own_operator,
    start_operator,
    stop_operator,
    synced_healthy,
    wait_for,
    wave_deployment,
)
from tether.localcluster import LocalCluster
from tether.tools import find_tool

pytestmark = pytest.mark.cluster

__all__ = ["git_server", "installed", "own_operator"]

KILLS = 20


def hook_job(name: str, hook: str, policy: str, *, generate: bool = False) -> str:
    naming = f"generateName: {name}-" if generate else f"name: {name}"
    return f"""apiVersion: batch/v1
kind: Job
metadata:
  {naming}
  annotations:
    argocd.argoproj.io/hook: {hook}
    argocd.argoproj.io/hook-delete-policy: {policy}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: run
          image: registry.invalid/{name}:1
"""


def test_hooks_run_once_per_operation_across_sigkills(
    own_operator: list[Operator],
    installed: Path,
    git_server: GitServer,
    kubectl: Any,
    cluster: Any,
    namespace: str,
) -> None:
    rng = random.Random(1607)
    path = f"{namespace}/hooks"
    files = {
        f"{path}/pre.yaml": hook_job("pre", "PreSync", "HookSucceeded", generate=True),
        f"{path}/during.yaml": hook_job("during", "Sync", "BeforeHookCreation"),
        f"{path}/post.yaml": hook_job("post", "PostSync", "HookSucceeded"),
    }
    watch = JobWatch(str(cluster.kubeconfig), namespace)
    try:
        operations: list[str] = []
        log_dir = own_operator[0].log.parent
        for round_ in range(KILLS):
            revision = git_server.push(
                {**files, f"{path}/cm.yaml": configmap("round", str(round_))},
                message=f"round {round_}",
            )
            if round_ == 0:
                apply_repo_and_app(
                    kubectl, namespace, git_server.url(), path, automated={"prune": True}
                )
            else:  # fetch now rather than at the Repository's next interval
                kubectl.run(
                    "annotate",
                    "repositories.tether.dev",
                    "repo",
                    "-n",
                    namespace,
                    f"tether.dev/refresh=round-{round_}",
                    "--overwrite",
                )

            def running(rev: str = revision) -> Any:
                op = app_status(kubectl, namespace).get("operationState") or {}
                return op if str(op.get("revision", "")).endswith(rev) else NotYet(op)

            wait_for(f"round {round_}: an operation at the new commit", running, timeout=90)
            time.sleep(rng.uniform(0.0, 3.0))  # a random point inside the sync
            killed = own_operator.pop()
            killed.process.send_signal(signal.SIGKILL)
            killed.process.wait(10)
            own_operator.append(start_operator(installed, log_dir))

            def finished(rev: str = revision) -> Any:
                op = app_status(kubectl, namespace).get("operationState") or {}
                done = str(op.get("revision", "")).endswith(rev) and op.get("phase") == "Succeeded"
                return op if done else NotYet(op)

            op = wait_for(f"round {round_}: the operation to succeed", finished, timeout=120)
            operations.append(op["plan"]["operationId"])

        # Every hook of every operation ran, and exactly once; the watch has seen the
        # last operation's PostSync Job (the positive signal that it is up to date).
        wait_for(
            "the watch to see the last PostSync Job",
            lambda: ("post", operations[-1]) in watch.runs() or NotYet(str(watch.runs())),
            timeout=30,
        )
        runs = watch.runs()
        assert len(set(operations)) == KILLS
        expected = {(hook, op): 1 for op in operations for hook in ("pre", "during", "post")}
        assert {k: v for k, v in runs.items() if k[1] in set(operations)} == expected
        assert "Traceback" not in "".join(o.logs() for o in own_operator)
    finally:
        watch.stop()


def namespace_object(name: str) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"


def in_namespace(doc: str, ns: str) -> str:
    return doc.replace("metadata:\n", f"metadata:\n  namespace: {ns}\n", 1)


def test_create_namespace_resync_does_not_wait_for_an_unlabelled_namespace(
    own_operator: list[Operator], git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    managed, created = f"{namespace}-managed", f"{namespace}-created"
    project = namespace_project(kubectl, namespace)
    try:
        owner = f"{namespace}/ns-owner"
        git_server.push({f"{owner}/ns.yaml": namespace_object(managed)}, message="ns owner")
        apply_repo_and_app(
            kubectl,
            namespace,
            git_server.url(),
            owner,
            automated={"prune": True},
            name="owner",
            project=project,
        )
        wait_for("the Namespace owner app", synced_healthy(kubectl, namespace, "owner"), 90)

        path = f"{namespace}/cn"
        git_server.push({f"{path}/cm.yaml": configmap("one", "1")}, message="cn app")
        kubectl.apply(
            [
                {
                    "apiVersion": "tether.dev/v1alpha1",
                    "kind": "Application",
                    "metadata": {"name": "cn", "namespace": namespace},
                    "spec": {
                        "project": project,
                        "source": {
                            "repositoryRef": {"name": "repo"},
                            "revision": "main",
                            "path": path,
                        },
                        "destination": {"namespace": created},
                        "syncPolicy": {
                            "automated": {"prune": True},
                            "syncOptions": ["CreateNamespace=true"],
                        },
                    },
                }
            ]
        )
        wait_for("the CreateNamespace app", synced_healthy(kubectl, namespace, "cn"), 90)
        assert kubectl.json("get", "configmap", "one", "-n", created)["data"] == {"key": "1"}

        revision = git_server.push({f"{path}/cm.yaml": configmap("one", "2")}, message="cn v2")

        def resynced() -> Any:
            op = app_status(kubectl, namespace, "cn").get("operationState") or {}
            done = str(op.get("revision", "")).endswith(revision) and op.get("phase") in (
                "Succeeded",
                "Failed",
            )
            return op if done else NotYet(op)

        # The health gate used to time out after 300 s on "Namespace ... is Missing".
        op = wait_for("the re-sync to finish", resynced, timeout=90)
        assert op["phase"] == "Succeeded", op.get("message")
        assert kubectl.json("get", "configmap", "one", "-n", created)["data"] == {"key": "2"}
    finally:
        kubectl.run("delete", "namespace", managed, created, "--wait=false", check=False)
        kubectl.run("delete", "projects.tether.dev", project, "--wait=false", check=False)


def test_a_namespace_holding_foreign_objects_is_not_pruned(
    own_operator: list[Operator], git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    shop = f"{namespace}-shop"
    path = f"{namespace}/shop"
    project = namespace_project(kubectl, namespace)
    try:
        git_server.push(
            {
                f"{path}/ns.yaml": namespace_object(shop),
                f"{path}/own.yaml": in_namespace(configmap("own", "x"), shop),
                f"{path}/home.yaml": configmap("home", "x"),
            },
            message="shop",
        )
        apply_repo_and_app(
            kubectl, namespace, git_server.url(), path, automated={"prune": True}, project=project
        )
        wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=90)
        kubectl.run("create", "configmap", "foreign", "-n", shop, "--from-literal=k=v")

        revision = git_server.push(
            {}, remove=(f"{path}/ns.yaml", f"{path}/own.yaml"), message="drop the shop"
        )

        def finished() -> Any:
            op = app_status(kubectl, namespace).get("operationState") or {}
            done = str(op.get("revision", "")).endswith(revision) and op.get("phase") in (
                "Succeeded",
                "Failed",
            )
            return op if done else NotYet(op)

        op = wait_for("the sync that drops the Namespace", finished, timeout=90)
        results = json.dumps(op.get("plan") or {})
        assert "still holds objects this app does not own" in results, results[:2000]
        assert f"ConfigMap {shop}/foreign" in results
        gone = kubectl.run("get", "configmap", "own", "-n", shop, check=False)
        assert gone.returncode != 0, "the app's own object in the namespace was not pruned"
        live_ns = kubectl.json("get", "namespace", shop)
        assert "deletionTimestamp" not in live_ns["metadata"]
        assert kubectl.json("get", "configmap", "foreign", "-n", shop)["data"] == {"k": "v"}

        # Its own warning condition and an Event, naming the namespace and what is inside.
        skipped = wait_for("the PruneSkipped condition", prune_skipped(kubectl, namespace), 60)
        assert skipped["status"] == "True" and skipped["reason"] == "NamespaceNotEmpty"
        assert f"namespace {shop} still holds" in skipped["message"], skipped
        assert f"ConfigMap {shop}/foreign" in skipped["message"], skipped
        events = kubectl.json(
            "get", "events", "-n", namespace, "--field-selector",
            "involvedObject.kind=Application,reason=PruneSkipped",
        )["items"]  # fmt: skip
        assert events and f"ConfigMap {shop}/foreign" in events[0]["message"], events

        # Once the foreign object is gone, a sync prunes the Namespace; the condition goes.
        kubectl.run("delete", "configmap", "foreign", "-n", shop)
        kubectl.run(
            "annotate", "applications.tether.dev", "app", "-n", namespace,
            "tether.dev/sync=after-cleanup", "--overwrite",
        )  # fmt: skip
        wait_for(
            "the PruneSkipped condition to clear",
            prune_skipped(kubectl, namespace, "after-cleanup"),
            90,
        )
        pruned = kubectl.run("get", "namespace", shop, "-o", "json", check=False)
        assert (
            pruned.returncode != 0 or "deletionTimestamp" in json.loads(pruned.stdout)["metadata"]
        ), "the emptied Namespace was not pruned"
    finally:
        kubectl.run("delete", "namespace", shop, "--wait=false", check=False)
        kubectl.run("delete", "projects.tether.dev", project, "--wait=false", check=False)


def prune_skipped(kubectl: Any, ns: str, present: bool | str = True) -> Any:
    """A check: the app's PruneSkipped condition is there; or, when ``present`` names a
    manual sync request, gone once that sync succeeded."""

    def check() -> Any:
        status = app_status(kubectl, ns)
        found = condition(status, "PruneSkipped")
        if present is True:
            return found or NotYet(status)
        op = status.get("operationState") or {}
        finished = op.get("phase") == "Succeeded" and status.get("lastHandledSync") == present
        return status if finished and not found else NotYet(status)

    return check


def live_value(kubectl: Any, ns: str, name: str) -> str:
    return str(kubectl.json("get", "configmap", name, "-n", ns)["data"]["key"])


def edit_and_wait_healed(kubectl: Any, ns: str, name: str, want: str) -> float:
    """Edit the canary live; return how long selfHeal took to restore ``want``."""
    patch = '{"data":{"key":"edited-live"}}'
    kubectl.run("patch", "configmap", name, "-n", ns, "--type=merge", "-p", patch)
    edited = time.monotonic()
    wait_for(
        f"selfHeal to restore {name}",
        lambda: live_value(kubectl, ns, name) == want,
        timeout=30,
        every=0.1,
    )
    return time.monotonic() - edited


def test_a_stopped_or_dead_git_server_does_not_hold_up_other_apps(
    own_operator: list[Operator],
    git_server: GitServer,
    kubectl: Any,
    namespace: str,
    tmp_path: Path,
) -> None:
    # The canary follows the module's healthy Git server, with selfHeal.
    canary = f"{namespace}/canary"
    git_server.push({f"{canary}/cm.yaml": configmap("canary", "git")}, message="canary")
    apply_repo_and_app(
        kubectl,
        namespace,
        git_server.url(),
        canary,
        automated={"prune": True, "selfHeal": True},
        name="canary",
    )
    wait_for("the canary", synced_healthy(kubectl, namespace, "canary"), timeout=90)

    # The other app follows a second server, which is then stopped, then killed.
    bare = tmp_path / "hostile" / "other.git"
    bare.parent.mkdir()
    git("init", "-q", "--bare", str(bare))
    work = tmp_path / "other-work"
    git("clone", "-q", str(bare), str(work))
    push_commit(work, {"app/cm.yaml": configmap("other", "1")}, "other")
    daemon, port = start_git_daemon(bare.parent)
    try:
        kubectl.apply(
            [
                {
                    "apiVersion": "tether.dev/v1alpha1",
                    "kind": "Repository",
                    "metadata": {"name": "other", "namespace": namespace},
                    "spec": {
                        "url": f"git://127.0.0.1:{port}/other.git",
                        "insecure": True,
                        "interval": "10s",
                        "timeout": "60s",
                    },
                },
                {
                    "apiVersion": "tether.dev/v1alpha1",
                    "kind": "Application",
                    "metadata": {"name": "other", "namespace": namespace},
                    "spec": {
                        "source": {
                            "repositoryRef": {"name": "other"},
                            "revision": "main",
                            "path": "app",
                        },
                        "destination": {"namespace": namespace},
                        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
                    },
                },
            ]
        )
        wait_for("the other app", synced_healthy(kubectl, namespace, "other"), timeout=90)

        # SIGSTOP: connections are accepted by the kernel and never answered, so the
        # next fetch of the other Repository hangs for up to its 60 s timeout.
        daemon.send_signal(signal.SIGSTOP)
        stalled_commit = push_commit(work, {"app/cm.yaml": configmap("other", "2")}, "two")
        healed = [edit_and_wait_healed(kubectl, namespace, "canary", "git") for _ in range(3)]

        def still_stalled() -> Any:
            other = app_status(kubectl, namespace, "other")
            return NotYet(other) if stalled_commit in json.dumps(other) else other

        # The heals happened while the other app could not see its new commit.
        assert still_stalled(), "the stopped server answered"
        daemon.send_signal(signal.SIGCONT)
        daemon.kill()
        daemon.wait(10)

        def fetch_failed() -> Any:
            repo = kubectl.json("get", "repositories.tether.dev", "other", "-n", namespace)
            ready = {c["type"]: c for c in (repo.get("status") or {}).get("conditions", [])}
            cond = ready.get("Ready") or {}
            return cond if cond.get("status") == "False" else NotYet(repo.get("status"))

        failed = wait_for("the dead server's Repository to report it", fetch_failed, 120)
        assert failed.get("reason"), failed
        healed.append(edit_and_wait_healed(kubectl, namespace, "canary", "git"))
        # nothing of the other app was lost because its source went away
        assert live_value(kubectl, namespace, "other") == "1"
        print(f"canary selfHeal while the other Git server was stopped/dead: {healed}")
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGCONT)
            stop(daemon)


# -- kube-apiserver killed and restarted mid-sync ----------------------------------------

APISERVER_KILLS = 5


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, Kubectl]]:
    """A control plane of this module's own, whose kube-apiserver the test may kill: the
    session's cluster, which every other module uses, is never touched."""
    local = LocalCluster.start(tmp_path_factory.mktemp("fragile"), nodes=1, die_with_parent=True)
    try:
        kubectl = Kubectl(find_tool("kubectl"), local.kubeconfig)
        kubectl.run("apply", "--server-side", "-f", str(CHART / "crds"))
        kubectl.run("wait", "--for=condition=Established", "crd", "--all")
        yield local, kubectl
    finally:
        local.stop()


def test_the_operator_converges_across_kube_apiserver_kills(
    fragile: tuple[LocalCluster, Kubectl], git_server: GitServer, tmp_path: Path
) -> None:
    """Each round: a new commit with two waves and PreSync/PostSync hook Jobs; the API
    server is SIGKILLed at a random point of the sync and restarted on the same port and
    certificates; the app must reach Synced/Healthy at that commit. The hook Jobs are
    kept (``generateName``, deleted only on failure), so listing them at the end counts
    every run: one per hook and operation."""
    local, kubectl = fragile
    rng = random.Random(1705)
    ns = "restarts"
    kubectl.run("create", "namespace", ns)
    project = namespace_project(kubectl, ns)
    path = "apiserver-restarts/app"
    op = start_operator(local.kubeconfig, tmp_path)
    outages: list[float] = []
    operations: list[str] = []
    mid_sync = 0  # kills that hit an operation still Running
    began = time.monotonic()
    try:
        for round_ in range(APISERVER_KILLS):
            files = {
                f"{path}/pre.yaml": hook_job("pre", "PreSync", "HookFailed", generate=True),
                f"{path}/post.yaml": hook_job("post", "PostSync", "HookFailed", generate=True),
                f"{path}/web.yaml": wave_deployment("web", 1),
                **{f"{path}/cm{i}.yaml": configmap(f"cm{i}", str(round_)) for i in range(4)},
            }
            revision = git_server.push(files, message=f"apiserver round {round_}")
            if round_ == 0:
                apply_repo_and_app(
                    kubectl, ns, git_server.url(), path, automated={"prune": True},
                    project=project,
                )  # fmt: skip
            else:
                kubectl.run(
                    "annotate", "repositories.tether.dev", "repo", "-n", ns,
                    f"tether.dev/refresh=round-{round_}", "--overwrite",
                )  # fmt: skip

            def running(rev: str = revision) -> Any:
                state = app_status(kubectl, ns).get("operationState") or {}
                return state if str(state.get("revision", "")).endswith(rev) else NotYet(state)

            wait_for(f"round {round_}: an operation at the new commit", running, timeout=90)
            time.sleep(rng.uniform(0.0, 2.0))  # a random point inside the sync
            phase = (app_status(kubectl, ns).get("operationState") or {}).get("phase")
            mid_sync += phase == "Running"
            local.kill_apiserver()
            outages.append(local.start_apiserver())

            def converged(rev: str = revision) -> Any:
                status = app_status(kubectl, ns)
                state = status.get("operationState") or {}
                done = (
                    str((status.get("sync") or {}).get("revision", "")).endswith(rev)
                    and (status.get("sync") or {}).get("status") == "Synced"
                    and (status.get("health") or {}).get("status") == "Healthy"
                    and state.get("phase") == "Succeeded"
                    and str(state.get("revision", "")).endswith(rev)
                )
                return status if done else NotYet(status)

            done = wait_for(f"round {round_}: Synced and Healthy", converged, timeout=120)
            operations.append(done["operationState"]["plan"]["operationId"])
            assert kubectl.json("get", "configmap", "cm3", "-n", ns)["data"] == {"key": str(round_)}

        jobs = kubectl.json("get", "jobs", "-n", ns)["items"]
        runs: dict[tuple[str, str], int] = defaultdict(int)
        for job in jobs:
            operation = (job["metadata"].get("annotations") or {}).get(OPERATION, "")
            runs[(job["metadata"]["name"].split("-")[0], operation)] += 1
        expected = {(hook, o): 1 for o in operations for hook in ("pre", "post")}
        print(
            f"apiserver kill x{APISERVER_KILLS}: converged {len(operations)}/{APISERVER_KILLS}, "
            f"{mid_sync} of the kills while the operation was Running, "
            f"hook runs {sum(runs.values())} for {len(expected)} expected, "
            f"restart to readyz {min(outages):.1f}-{max(outages):.1f} s, "
            f"rounds {time.monotonic() - began:.0f} s"
        )
        assert len(set(operations)) == APISERVER_KILLS
        assert mid_sync >= 1, "no kill hit a sync in flight"
        assert dict(runs) == expected
        assert "Traceback" not in op.logs()
    finally:
        stop_operator(op)
