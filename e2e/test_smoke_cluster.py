"""Smoke tests proving the local control plane is a real Kubernetes API server.

Each test exercises one behaviour an emulator would get wrong: controllers
(Deployment -> ReplicaSet -> Pods), server-side apply conflicts, strategic
merge patch, CRDs, watch semantics, namespace finalization and RBAC.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from engine_helpers import wait_for
from tether.kube.client import APPLY_PATCH, KubeClient
from tether.kube.errors import Conflict

if TYPE_CHECKING:
    from conftest import ClusterHandle, Kubectl

pytestmark = pytest.mark.cluster

WAIT = 60.0


def deployment(name: str, containers: list[dict[str, Any]], replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": containers},
            },
        },
    }


def condition(obj: dict[str, Any], kind: str) -> str | None:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond.get("type") == kind:
            return str(cond.get("status"))
    return None


# -- controllers --------------------------------------------------------------


def test_deployment_gets_replicaset_and_running_pods_and_becomes_available(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(deployment("web", [{"name": "web", "image": "nginx:1.27"}]), "-n", namespace)

    rs = wait_for(
        "a ReplicaSet owned by the Deployment",
        lambda: [
            r
            for r in kubectl.json("get", "replicasets", "-n", namespace)["items"]
            if any(o["kind"] == "Deployment" for o in r["metadata"].get("ownerReferences", []))
        ],
    )
    rs_name = rs[0]["metadata"]["name"]

    def running_pods() -> list[dict[str, Any]]:
        pods = kubectl.json("get", "pods", "-n", namespace, "-l", "app=web")["items"]
        ready = [
            p
            for p in pods
            if p["status"].get("phase") == "Running" and condition(p, "Ready") == "True"
        ]
        return ready if len(ready) == 2 else []

    pods = wait_for("2 Running and Ready pods", running_pods)
    for pod in pods:
        assert pod["metadata"]["ownerReferences"][0]["name"] == rs_name
        assert pod["spec"]["nodeName"].startswith("kwok-node-")

    kubectl.run(
        "wait", "--for=condition=Available", "deployment/web", "-n", namespace, "--timeout=60s"
    )
    status = kubectl.json("get", "deployment", "web", "-n", namespace)["status"]
    assert status["availableReplicas"] == 2
    assert status["readyReplicas"] == 2


# -- server-side apply -----------------------------------------------------


async def test_second_field_manager_gets_409_on_server_side_apply_conflict(
    api_client: KubeClient, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/owned"

    def cm(value: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "owned", "namespace": namespace},
            "data": {"key": value},
        }

    async def apply(value: str, manager: str, force: bool = False) -> Any:
        query = {"fieldManager": manager, "force": "true" if force else None}
        return await api_client.request(
            "PATCH", path, verb="apply", query=query, body=cm(value), content_type=APPLY_PATCH
        )

    await apply("from-alpha", "alpha")
    with pytest.raises(Conflict) as info:
        await apply("from-beta", "beta")
    assert info.value.status == 409
    assert info.value.reason == "Conflict"
    assert "alpha" in info.value.server_message and ".data.key" in info.value.server_message

    live = await api_client.request("GET", path, verb="get")
    assert live["data"] == {"key": "from-alpha"}

    # Forcing takes the field over: the server moves ownership to beta.
    await apply("from-beta", "beta", force=True)
    live = await api_client.request("GET", path, verb="get")
    assert live["data"] == {"key": "from-beta"}
    managers = {
        m["manager"] for m in live["metadata"]["managedFields"] if m["operation"] == "Apply"
    }
    assert "beta" in managers


# -- strategic merge patch -------------------------------------------------


def test_strategic_merge_patch_merges_containers_by_name(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(
        deployment(
            "smp",
            [
                {"name": "app", "image": "app:1"},
                {"name": "sidecar", "image": "sidecar:1"},
            ],
            replicas=0,
        ),
        "-n",
        namespace,
    )
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}
    kubectl.run(
        "patch", "deployment", "smp", "-n", namespace, "--type=strategic", "-p", json.dumps(patch)
    )
    containers = kubectl.json("get", "deployment", "smp", "-n", namespace)["spec"]["template"][
        "spec"
    ]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [
        ("app", "app:2"),
        ("sidecar", "sidecar:1"),
    ]

    # The same body as a JSON merge patch replaces the whole list: proof the
    # merge above used the server's patchMergeKey, not list replacement.
    kubectl.run(
        "patch", "deployment", "smp", "-n", namespace, "--type=merge", "-p", json.dumps(patch)
    )
    containers = kubectl.json("get", "deployment", "smp", "-n", namespace)["spec"]["template"][
        "spec"
    ]["containers"]
    assert [c["name"] for c in containers] == ["app"]


# -- CRDs and watch ---------------------------------------------------------


async def _watch_events(
    api_client: KubeClient,
    path: str,
    resource_version: str,
    stop: Callable[[list[dict[str, Any]]], bool],
    *,
    timeout_seconds: int = 30,
    bookmarks: bool = False,
) -> list[dict[str, Any]]:
    """Open a raw watch and collect events until ``stop(events)`` or the server ends it."""
    query = {
        "watch": "true",
        "resourceVersion": resource_version,
        "timeoutSeconds": str(timeout_seconds),
        "allowWatchBookmarks": "true" if bookmarks else None,
    }
    events: list[dict[str, Any]] = []
    stream = api_client.stream(path, query=query, read_timeout=timeout_seconds + 5)
    async with contextlib.aclosing(stream) as lines:
        async for event in lines:
            events.append(event)
            if stop(events):
                break
    return events


async def test_crd_becomes_established_and_custom_resources_are_served_and_watched(
    api_client: KubeClient, kubectl: Kubectl, namespace: str
) -> None:
    group = f"g{uuid.uuid4().hex[:8]}.e2e.tether.dev"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer", "minimum": 1}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    kubectl.apply(crd)
    try:
        kubectl.run("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=60s")
        path = f"/apis/{group}/v1/namespaces/{namespace}/widgets"
        listed = wait_for(
            "the widgets resource to be served",
            lambda: kubectl.run(
                "get", f"widgets.{group}", "-n", namespace, "-o", "json", check=False
            ),
        )
        rv = json.loads(listed.stdout)["metadata"]["resourceVersion"]

        watcher = asyncio.create_task(
            _watch_events(api_client, path, rv, lambda ev: any(e["type"] == "ADDED" for e in ev))
        )
        widget = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w1", "namespace": namespace},
            "spec": {"size": 3},
        }
        await asyncio.to_thread(kubectl.apply, widget)
        events = await asyncio.wait_for(watcher, 40)
        added = [e for e in events if e["type"] == "ADDED"]
        assert added[0]["object"]["metadata"]["name"] == "w1"
        assert added[0]["object"]["spec"] == {"size": 3}

        got = kubectl.json("get", f"widgets.{group}", "w1", "-n", namespace)
        assert got["spec"]["size"] == 3

        # Structural schema validation is enforced by the server.
        bad = dict(widget, metadata={"name": "w2", "namespace": namespace}, spec={"size": 0})
        proc = kubectl.run("apply", "-f", "-", input=json.dumps(bad), check=False)
        assert proc.returncode != 0
        assert "spec.size" in proc.stderr
    finally:
        kubectl.run("delete", "crd", f"widgets.{group}", "--wait=false", check=False)


async def test_watch_delivers_added_modified_deleted_and_bookmarks(
    api_client: KubeClient, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = (await api_client.request("GET", path, verb="list"))["metadata"]["resourceVersion"]

    def saw_delete(events: list[dict[str, Any]]) -> bool:
        return any(e["type"] == "DELETED" for e in events)

    watcher = asyncio.create_task(_watch_events(api_client, path, rv, saw_delete))
    body = {"metadata": {"name": "watched"}, "data": {"v": "1"}}
    await api_client.request("POST", path, verb="create", body=body)
    await api_client.request(
        "PATCH",
        f"{path}/watched",
        verb="patch",
        body={"data": {"v": "2"}},
        content_type="application/merge-patch+json",
    )
    await api_client.request("DELETE", f"{path}/watched", verb="delete")
    events = await asyncio.wait_for(watcher, 40)

    kinds = [e["type"] for e in events if e["object"]["metadata"].get("name") == "watched"]
    assert kinds == ["ADDED", "MODIFIED", "DELETED"]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert events[1]["object"]["data"] == {"v": "2"}

    # A bookmark arrives before the server closes a watch that asked for them.
    bookmarks = await _watch_events(
        api_client,
        path,
        str(versions[-1]),
        lambda ev: any(e["type"] == "BOOKMARK" for e in ev),
        timeout_seconds=5,
        bookmarks=True,
    )
    marks = [e for e in bookmarks if e["type"] == "BOOKMARK"]
    assert marks, f"no BOOKMARK in {bookmarks}"
    assert int(marks[0]["object"]["metadata"]["resourceVersion"]) >= versions[-1]

    # Without allowWatchBookmarks the same watch ends with no bookmark.
    plain = await _watch_events(
        api_client, path, str(versions[-1]), lambda ev: False, timeout_seconds=3
    )
    assert all(e["type"] != "BOOKMARK" for e in plain)


# -- namespaces ---------------------------------------------------------------


def test_namespace_deletion_finalizes_and_removes_its_objects(kubectl: Kubectl) -> None:
    name = f"t-doomed-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", name)
    ns = kubectl.json("get", "namespace", name)
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    kubectl.run("create", "configmap", "cm", "-n", name, "--from-literal=a=b")
    kubectl.apply(deployment("doomed", [{"name": "c", "image": "x:1"}], replicas=1), "-n", name)
    wait_for(
        "the doomed pod to run",
        lambda: kubectl.run(
            "get",
            "pods",
            "-n",
            name,
            "-l",
            "app=doomed",
            "--field-selector=status.phase=Running",
            "-o",
            "name",
        ).stdout.strip(),
    )

    kubectl.run("delete", "namespace", name, "--wait=false")
    phase = kubectl.json("get", "namespace", name)["status"]["phase"]
    assert phase == "Terminating"
    kubectl.run("wait", "--for=delete", f"namespace/{name}", "--timeout=90s")

    gone = kubectl.run("get", "namespace", name, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    for kind in ("configmaps", "deployments", "replicasets", "pods"):
        left = kubectl.json("get", kind, "-n", name)["items"]
        assert left == [], f"{kind} left in deleted namespace: {left}"


# -- RBAC -------------------------------------------------------------------


def test_service_account_kubeconfig_is_refused_where_rbac_says_no(
    cluster: ClusterHandle, kubectl: Kubectl, namespace: str
) -> None:
    kubectl.run("create", "serviceaccount", "reader", "-n", namespace)
    kubectl.run(
        "create", "role", "cm-reader", "-n", namespace, "--verb=get,list", "--resource=configmaps"
    )
    kubectl.run(
        "create",
        "rolebinding",
        "cm-reader",
        "-n",
        namespace,
        "--role=cm-reader",
        f"--serviceaccount={namespace}:reader",
    )
    kubectl.run("create", "configmap", "visible", "-n", namespace, "--from-literal=k=v")
    sa_config = cluster.mint_sa_kubeconfig(namespace, "reader", create=False)

    whoami = kubectl.json("auth", "whoami", kubeconfig=sa_config)
    assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:reader"

    allowed = kubectl.run(
        "get", "configmap", "visible", "-n", namespace, "-o", "name", kubeconfig=sa_config
    )
    assert allowed.stdout.strip() == "configmap/visible"

    for args in (
        ("get", "secrets", "-n", namespace),
        ("create", "configmap", "nope", "-n", namespace),
        ("get", "configmaps", "-n", "default"),
        ("get", "nodes"),
    ):
        refused = kubectl.run(*args, kubeconfig=sa_config, check=False)
        assert refused.returncode != 0, args
        assert "is forbidden" in refused.stderr, refused.stderr
        assert f'User "system:serviceaccount:{namespace}:reader"' in refused.stderr

    # The raw answer is an HTTP 403 (reason Forbidden), not a 401 or a 404.
    raw = kubectl.run(
        "get", "--raw", f"/api/v1/namespaces/{namespace}/secrets", kubeconfig=sa_config, check=False
    )
    assert raw.returncode != 0
    assert "(Forbidden)" in raw.stderr, raw.stderr

    # Impersonating the same ServiceAccount as admin is refused the same way.
    impersonated = kubectl.run(
        "get",
        "secrets",
        "-n",
        namespace,
        f"--as=system:serviceaccount:{namespace}:reader",
        check=False,
    )
    assert impersonated.returncode != 0 and "Forbidden" in impersonated.stderr


def test_server_reports_the_pinned_kubernetes_version(kubectl: Kubectl) -> None:
    pinned = dict(
        line.split("=", 1)
        for line in (Path(__file__).parent / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    version = kubectl.json("version")
    assert version["serverVersion"]["gitVersion"] == pinned["KUBERNETES_VERSION"]
    assert version["clientVersion"]["gitVersion"] == pinned["KUBERNETES_VERSION"]
