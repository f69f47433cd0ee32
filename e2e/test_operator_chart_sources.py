"""The operator with helm and oci Repositories, end to end on the real control plane.

An app from a chart in the HTTPS Helm repository (basic auth, the CA in the
Secret) reaches Synced/Healthy with ``<version>@sha256:<digest>`` as its
revision, and moves when a new version inside its range is published; an app
from a plain-manifests OCI artifact (``tether push artifact`` into the real
registry) does too; so do a chart whose dependency comes from its declared
Repository (fetched by the operator, never by helm) and a chart pushed by ``helm
push`` to a registry with token auth; a wrong password is reported as
AuthenticationFailed, and a chart on a git Repository as InvalidSpec. The CLI's
``diff``/``sync --repo-type helm --chart`` go the same way against the same server.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sources"))

from source_servers import (
    PASSWORD,
    USER,
    HelmRepoServer,
    RegistryServer,
    ServerTLS,
    TokenServer,
    helm,
    helm_push,
    helm_registry_login,
    make_tls,
    package_chart,
    publish,
    serving,
    tar_chart,
    write_chart,
)

from engine_helpers import tether
from operator_helpers import (
    NotYet,
    Operator,
    app_status,
    condition,
    installed,
    operator,
    synced_healthy,
    wait_for,
)
from tether.sources import Access, Credentials, SourceFetcher
from tether.sources.artifact import push_artifact

pytestmark = pytest.mark.cluster

__all__ = ["installed", "operator"]  # fixtures used here


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> ServerTLS:
    return make_tls(tmp_path_factory.mktemp("e2e-source-tls"))


@pytest.fixture(scope="module")
def helm_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-helm-home")


@pytest.fixture(scope="module")
def chart_repo(tmp_path_factory: pytest.TempPathFactory, tls: ServerTLS, helm_home: Path) -> Any:
    folder = tmp_path_factory.mktemp("e2e-charts")
    publish(folder, "web", "1.0.0", helm_home)
    with serving(HelmRepoServer(folder, tls)) as server:
        yield server


@pytest.fixture(scope="module")
def oci_registry(tmp_path_factory: pytest.TempPathFactory, tls: ServerTLS) -> Any:
    with serving(RegistryServer(tmp_path_factory.mktemp("e2e-registry"), tls)) as server:
        yield server


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory, tls: ServerTLS) -> Any:
    with serving(TokenServer(tmp_path_factory.mktemp("e2e-tokens"), tls)) as tokens:
        folder = tmp_path_factory.mktemp("e2e-token-registry")
        with serving(RegistryServer(folder, tls, token=tokens)) as server:
            yield server


def credentials_secret(ns: str, tls: ServerTLS, password: str = PASSWORD) -> dict[str, Any]:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": ns},
        "data": {"username": b64(USER), "password": b64(password), "ca.crt": b64(tls.ca_pem)},
    }


def repository(ns: str, kind: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": "charts", "namespace": ns},
        "spec": {"type": kind, "url": url, "secretRef": {"name": "creds"}, "interval": "10s"},
    }


def application(ns: str, source: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "app", "namespace": ns},
        "spec": {
            "source": {"repositoryRef": {"name": "charts"}, **source},
            "destination": {"namespace": ns},
            "syncPolicy": {"automated": {"prune": True}},
            "interval": "30s",
        },
    }


def configmap_data(kubectl: Any, ns: str, name: str) -> dict[str, str]:
    found = kubectl.run("get", "configmap", name, "-n", ns, "-o", "json", check=False)
    if found.returncode != 0:
        return {}
    return dict(json.loads(found.stdout).get("data") or {})


def test_chart_from_the_helm_repository_syncs_and_follows_its_range(
    operator: Operator,
    chart_repo: HelmRepoServer,
    tls: ServerTLS,
    helm_home: Path,
    kubectl: Any,
    namespace: str,
) -> None:
    kubectl.apply(
        [
            credentials_secret(namespace, tls),
            repository(namespace, "helm", chart_repo.url),
            application(
                namespace,
                {
                    "chart": "web",
                    "revision": ">=1.0.0 <2.0.0",
                    "helm": {"releaseName": "site", "values": {"message": "hi"}},
                },
            ),
        ]
    )
    status = wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=90)
    assert status["sync"]["revision"].startswith("1.0.0@sha256:")
    assert configmap_data(kubectl, namespace, "site-web") == {"version": "1.0.0", "message": "hi"}
    repo = kubectl.json("get", "repositories.tether.dev", "charts", "-n", namespace)["status"]
    assert repo["revisions"] == [
        {"revision": "web@>=1.0.0 <2.0.0", "resolved": status["sync"]["revision"]}
    ]

    publish(chart_repo.root, "web", "1.1.0", helm_home)
    publish(chart_repo.root, "web", "2.0.0", helm_home)  # outside the range

    def moved() -> Any:
        data = configmap_data(kubectl, namespace, "site-web")
        seen = app_status(kubectl, namespace)
        revision = (seen.get("sync") or {}).get("revision") or ""
        ok = data.get("version") == "1.1.0" and revision.startswith("1.1.0@sha256:")
        return seen if ok else NotYet({"data": data, "status": seen})

    wait_for("the app to move to 1.1.0", moved, timeout=90)


def test_plain_manifests_artifact_from_oci_syncs(
    operator: Operator,
    oci_registry: RegistryServer,
    tls: ServerTLS,
    kubectl: Any,
    namespace: str,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "site"
    (folder / "app").mkdir(parents=True)
    (folder / "app" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-oci\ndata:\n  key: one\n"
    )
    url = f"{oci_registry.url}/{namespace}/site"
    access = Access(Credentials(USER, PASSWORD), ca_pem=tls.ca_pem)
    pushed = push_artifact(SourceFetcher(tmp_path / "push"), folder, f"{url}:1.0.0", access)
    kubectl.apply(
        [
            credentials_secret(namespace, tls),
            repository(namespace, "oci", url),
            application(namespace, {"revision": "1.x", "path": "app"}),
        ]
    )
    status = wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=90)
    assert status["sync"]["revision"] == pushed
    assert configmap_data(kubectl, namespace, "from-oci") == {"key": "one"}


def test_wrong_password_and_chart_on_git_have_named_reasons(
    operator: Operator,
    chart_repo: HelmRepoServer,
    tls: ServerTLS,
    kubectl: Any,
    namespace: str,
) -> None:
    kubectl.apply(
        [
            credentials_secret(namespace, tls, password="wrong-e2e-pass"),
            repository(namespace, "helm", chart_repo.url),
            application(namespace, {"chart": "web", "revision": "1.0.0"}),
        ]
    )

    def refused() -> Any:
        repo = kubectl.json("get", "repositories.tether.dev", "charts", "-n", namespace)
        ready = condition(repo.get("status") or {}, "Ready")
        return repo if ready.get("reason") == "AuthenticationFailed" else NotYet(repo)

    repo = wait_for("AuthenticationFailed", refused, timeout=60)
    assert "wrong-e2e-pass" not in str(repo)
    kubectl.apply(
        [
            {
                **repository(namespace, "git", "https://git.invalid/x.git"),
                "metadata": {"name": "gitrepo", "namespace": namespace},
            },
            {
                **application(namespace, {"chart": "web"}),
                "spec": {
                    **application(namespace, {"chart": "web"})["spec"],
                    "source": {"repositoryRef": {"name": "gitrepo"}, "chart": "web"},
                },
            },
        ]
    )

    def invalid() -> Any:
        seen = app_status(kubectl, namespace)
        ready = condition(seen, "Ready")
        ok = ready.get("reason") == "InvalidSpec" and "type git" in ready.get("message", "")
        return seen if ok else NotYet(seen)

    wait_for("InvalidSpec for a chart on a git Repository", invalid, timeout=60)


def test_chart_with_a_dependency_from_its_declared_repository_syncs(
    operator: Operator,
    chart_repo: HelmRepoServer,
    tls: ServerTLS,
    helm_home: Path,
    kubectl: Any,
    namespace: str,
) -> None:
    parent = write_chart(
        helm_home / "deps",
        "stack",
        "0.1.0",
        dependencies=[{"name": "web", "version": "^1.0.0", "repository": chart_repo.url}],
    )
    tar_chart(parent, chart_repo.root)  # charts/ left empty: the operator must fetch web
    helm("repo", "index", str(chart_repo.root), home=helm_home)
    kubectl.apply(
        [
            credentials_secret(namespace, tls),
            repository(namespace, "helm", chart_repo.url),
            application(namespace, {"chart": "stack", "helm": {"releaseName": "rel"}}),
        ]
    )
    wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=90)
    assert configmap_data(kubectl, namespace, "rel-stack")["version"] == "0.1.0"
    assert configmap_data(kubectl, namespace, "rel-web")["version"].startswith("1.")


def test_chart_pushed_to_a_token_auth_registry_syncs(
    operator: Operator,
    token_registry: RegistryServer,
    tls: ServerTLS,
    helm_home: Path,
    kubectl: Any,
    namespace: str,
) -> None:
    helm_registry_login(token_registry, helm_home)
    tgz = package_chart(write_chart(helm_home / "oci", "api", "0.2.0"), helm_home / "p", helm_home)
    helm_push(token_registry, tgz, namespace, helm_home)
    kubectl.apply(
        [
            credentials_secret(namespace, tls),
            repository(namespace, "oci", f"{token_registry.url}/{namespace}"),
            application(namespace, {"chart": "api", "revision": "^0.2"}),
        ]
    )
    status = wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=90)
    assert status["sync"]["revision"].startswith("0.2.0@sha256:")
    assert configmap_data(kubectl, namespace, "app-api")["version"] == "0.2.0"


def test_cli_diff_and_sync_a_chart_from_the_helm_repository(
    cluster: Any,
    chart_repo: HelmRepoServer,
    tls: ServerTLS,
    kubectl: Any,
    namespace: str,
    tmp_path: Path,
) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"username": USER, "password": PASSWORD}))
    flags = [
        chart_repo.url, "--repo-type", "helm", "--chart", "web", "--revision", "1.0.0",
        "--auth-file", str(auth), "--ca-file", str(tls.ca_file), "--app", "cli", "-n", namespace,
    ]  # fmt: skip
    first = tether(cluster, "diff", *flags)
    assert first.returncode == 1, first.stderr  # drift: nothing applied yet
    synced = tether(cluster, "sync", *flags)
    assert synced.returncode == 0, synced.stderr
    again = tether(cluster, "diff", *flags)
    assert again.returncode == 0, again.stdout + again.stderr
    assert configmap_data(kubectl, namespace, "cli-web")["version"] == "1.0.0"
