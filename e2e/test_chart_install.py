"""`helm install` of charts/tether into the real control plane, and what its RBAC allows.

Pods cannot run the image here, so this checks the install itself and, with
`kubectl auth can-i --as` the chart's ServiceAccount, that the permissions are
the ones the operator needs: its own CRDs and status, Secrets read-only, Events,
the separate deploy set, and nothing outside the namespaces of a scoped install.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from operator_helpers import helm
from tether.tools import find_tool

if TYPE_CHECKING:
    from conftest import ClusterHandle, Kubectl

pytestmark = pytest.mark.cluster

CHART = Path(__file__).resolve().parent.parent / "charts" / "tether"


def can(kubectl: Kubectl, sa: str, *args: str) -> bool:
    done = kubectl.run("auth", "can-i", f"--as={sa}", *args, check=False)
    return done.stdout.strip() == "yes"


@pytest.fixture
def release(cluster: ClusterHandle, namespace: str) -> Iterator[str]:
    name = f"t{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(
        [
            find_tool("helm"),
            f"--kubeconfig={cluster.kubeconfig}",
            "uninstall",
            name,
            "-n",
            namespace,
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )


# The cluster-scoped `default` Project belongs to the release that test_operator_basic
# installs for the whole session; a second release creating it would collide.
NO_PROJECT = ("--set", "projects.default.create=false")


def test_cluster_wide_install(
    cluster: ClusterHandle, kubectl: Kubectl, namespace: str, release: str
) -> None:
    helm(cluster, "install", release, str(CHART), "-n", namespace, *NO_PROJECT)
    deploy = kubectl.json("get", "deployment", f"{release}-tether", "-n", namespace)
    assert deploy["spec"]["template"]["spec"]["serviceAccountName"] == f"{release}-tether"
    kubectl.run("wait", "--for=condition=Established", "crd/applications.tether.dev")
    sa = f"system:serviceaccount:{namespace}:{release}-tether"
    for verb, what in [
        ("watch", "applications.tether.dev"),
        ("patch", "applications.tether.dev/status"),
        ("patch", "repositories.tether.dev/status"),
        ("update", "applications.tether.dev/finalizers"),
        ("list", "secrets"),
        ("create", "events"),
        ("impersonate", "serviceaccounts"),
        ("watch", "projects.tether.dev"),
    ]:
        assert can(kubectl, sa, verb, what, "-A"), f"{verb} {what}"
    # The deploy set: anything the apps manage, anywhere.
    assert can(kubectl, sa, "create", "deployments.apps", "-n", "default")
    assert can(kubectl, sa, "delete", "clusterroles.rbac.authorization.k8s.io")


def test_without_deploy_set_the_operator_keeps_only_its_own_rights(
    cluster: ClusterHandle, kubectl: Kubectl, namespace: str, release: str
) -> None:
    helm(
        cluster, "install", release, str(CHART), "-n", namespace, *NO_PROJECT,
        "--set", "rbac.deploy.create=false", "--set", "rbac.impersonate=false",
    )  # fmt: skip
    sa = f"system:serviceaccount:{namespace}:{release}-tether"
    assert can(kubectl, sa, "patch", "applications.tether.dev/status", "-A")
    assert can(kubectl, sa, "get", "secrets", "-A")
    assert not can(kubectl, sa, "update", "secrets", "-A")
    assert not can(kubectl, sa, "delete", "secrets", "-A")
    assert not can(kubectl, sa, "create", "deployments.apps", "-n", "default")
    assert not can(kubectl, sa, "impersonate", "serviceaccounts", "-A")


def test_namespace_scoped_install(
    cluster: ClusterHandle, kubectl: Kubectl, namespace: str, release: str
) -> None:
    target = f"{namespace}-apps"[:63]
    kubectl.run("create", "namespace", target)
    try:
        helm(
            cluster, "install", release, str(CHART), "-n", namespace, *NO_PROJECT,
            "--set", f"scope.namespaces={{{target}}}",
            "--set", "leaderElection.enabled=true", "--set", "replicaCount=2",
        )  # fmt: skip
        sa = f"system:serviceaccount:{namespace}:{release}-tether"
        assert can(kubectl, sa, "patch", "applications.tether.dev/status", "-n", target)
        assert can(kubectl, sa, "create", "deployments.apps", "-n", target)
        assert not can(kubectl, sa, "list", "secrets", "-n", "default")
        assert not can(kubectl, sa, "create", "deployments.apps", "-n", "default")
        assert not can(kubectl, sa, "list", "applications.tether.dev", "-A")
        assert can(kubectl, sa, "watch", "customresourcedefinitions.apiextensions.k8s.io")
        assert can(kubectl, sa, "watch", "projects.tether.dev")
        assert not can(kubectl, sa, "update", "projects.tether.dev")
        assert can(kubectl, sa, "create", "leases.coordination.k8s.io", "-n", namespace)
        assert can(
            kubectl, sa, "update", "leases.coordination.k8s.io/tether-leader", "-n", namespace
        )
        assert not can(kubectl, sa, "update", "leases.coordination.k8s.io/other", "-n", namespace)
    finally:
        kubectl.run("delete", "namespace", target, "--wait=false", check=False)


def test_webhook_install_has_its_service_and_ingress_and_may_ask_for_refreshes(
    cluster: ClusterHandle, kubectl: Kubectl, namespace: str, release: str
) -> None:
    helm(
        cluster, "install", release, str(CHART), "-n", namespace, *NO_PROJECT,
        "--set", "webhook.enabled=true", "--set", "webhook.secret.existingSecret=hooks",
        "--set", "webhook.ingress.enabled=true", "--set", "webhook.ingress.host=hooks.example",
    )  # fmt: skip
    service = kubectl.json("get", "service", f"{release}-tether-webhook", "-n", namespace)
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("webhook", 9292)]
    ingress = kubectl.json("get", "ingress", f"{release}-tether-webhook", "-n", namespace)
    assert ingress["spec"]["rules"][0]["host"] == "hooks.example"
    sa = f"system:serviceaccount:{namespace}:{release}-tether"
    # What the receiver does: read a Repository's webhook Secret, post an Event, and (on a
    # standby) set the refresh annotation on the Repository.
    assert can(kubectl, sa, "get", "secrets", "-A")
    assert can(kubectl, sa, "create", "events", "-A")
    assert can(kubectl, sa, "patch", "repositories.tether.dev", "-A")
