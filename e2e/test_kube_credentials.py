"""Tether's own credentials loader against the real API server: a client certificate, a
token, a token file that rotates, exec plugins (good, cached, expiring, failing),
insecure-skip-tls-verify and tls-server-name. Who the server thinks we are comes from a
SelfSubjectReview, so each test proves the credential the server actually received."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tether.kube.client import KubeClient
from tether.kube.errors import KubeError, Unavailable
from tether.kube.kubeconfig import KubeconfigError, NoAuth

if TYPE_CHECKING:
    from conftest import ClusterHandle, Kubectl

pytestmark = pytest.mark.cluster

V1 = "client.authentication.k8s.io/v1"


async def whoami(client: KubeClient) -> str:
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    answer = await client.request(
        "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", verb="create", body=review
    )
    return str(answer["status"]["userInfo"]["username"])


def admin(cluster: ClusterHandle) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(cluster.kubeconfig.read_text())
    return doc


def kubeconfig(
    path: Path,
    cluster: ClusterHandle,
    user: dict[str, Any],
    *,
    cluster_extra: dict[str, Any] | None = None,
    with_ca: bool = True,
) -> Path:
    """A kubeconfig for the test server with ``user`` as its only user."""
    source = admin(cluster)["clusters"][0]["cluster"]
    body = {"server": source["server"], **(cluster_extra or {})}
    if with_ca:
        body["certificate-authority-data"] = source["certificate-authority-data"]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": body}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "t", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "t",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def sa_token(kubectl: Kubectl, namespace: str, name: str) -> str:
    kubectl.run("create", "serviceaccount", name, "-n", namespace, check=False)
    return str(kubectl.run("create", "token", name, "-n", namespace).stdout.strip())


@pytest.fixture
async def clients() -> AsyncIterator[list[KubeClient]]:
    opened: list[KubeClient] = []
    yield opened
    for client in opened:
        await client.close()


async def connect(clients: list[KubeClient], path: Path) -> KubeClient:
    client = await KubeClient.connect(str(path))
    clients.append(client)
    return client


# -- certificates and tokens ---------------------------------------------------------


async def test_client_certificate_kubeconfig(
    cluster: ClusterHandle, clients: list[KubeClient]
) -> None:
    user = admin(cluster)["users"][0]["user"]
    assert "client-certificate-data" in user, "the local cluster's admin uses a certificate"
    client = await connect(clients, cluster.kubeconfig)
    assert client.credentials.auth == NoAuth()
    assert await whoami(client) != "system:anonymous"
    assert await whoami(client.impersonate("jane")) == "jane"


async def test_token_kubeconfig(
    cluster: ClusterHandle, namespace: str, clients: list[KubeClient]
) -> None:
    client = await connect(clients, cluster.mint_sa_kubeconfig(namespace, "reader"))
    assert await whoami(client) == f"system:serviceaccount:{namespace}:reader"
    assert client.credentials.namespace == namespace


async def test_token_file_is_re_read_when_it_rotates(
    cluster: ClusterHandle,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
    clients: list[KubeClient],
) -> None:
    token = tmp_path / "token"
    token.write_text(sa_token(kubectl, namespace, "first"))
    client = await connect(
        clients, kubeconfig(tmp_path / "config", cluster, {"tokenFile": "token"})
    )
    assert await whoami(client) == f"system:serviceaccount:{namespace}:first"

    rotated = tmp_path / "token.new"
    rotated.write_text(sa_token(kubectl, namespace, "second"))
    rotated.replace(token)
    assert await whoami(client) == f"system:serviceaccount:{namespace}:second"

    token.write_text("not-a-token")
    with pytest.raises(KubeError) as info:
        await whoami(client)
    assert info.value.status == 401
    token.write_text(sa_token(kubectl, namespace, "first"))
    assert await whoami(client) == f"system:serviceaccount:{namespace}:first"


# -- exec plugins -------------------------------------------------------------------

PLUGIN = """#!{python}
import datetime, json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "runs"), "a") as runs:
    runs.write(os.environ["KUBERNETES_EXEC_INFO"] + "\\n")
mode = sys.argv[1]
if mode == "fail":
    print("the plugin log line", file=sys.stderr)
    print("token expired: run `login` again", file=sys.stderr)
    sys.exit(3)
if mode == "garbage":
    print("Bearer " + open(os.path.join(here, "token")).read())
    sys.exit(0)
status = {{"token": open(os.path.join(here, "token")).read().strip()}}
if mode == "expiring":  # already inside the refresh margin: fetched again every time
    status["expirationTimestamp"] = datetime.datetime.now(datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
print(json.dumps({{"apiVersion": os.environ["API_VERSION"], "kind": "ExecCredential",
                  "status": status}}))
"""


def exec_kubeconfig(
    tmp_path: Path, cluster: ClusterHandle, mode: str, api_version: str = V1
) -> Path:
    plugin = tmp_path / "bin" / "plugin.py"
    plugin.parent.mkdir()
    plugin.write_text(PLUGIN.format(python=sys.executable))
    plugin.chmod(0o755)
    user = {
        "exec": {
            "apiVersion": api_version,
            "command": "bin/plugin.py",  # relative to the kubeconfig's folder
            "args": [mode],
            "env": [{"name": "API_VERSION", "value": api_version}],
            "interactiveMode": "Never",
            "provideClusterInfo": True,
        }
    }
    return kubeconfig(tmp_path / "config", cluster, user)


def runs(tmp_path: Path) -> list[dict[str, Any]]:
    lines = (tmp_path / "bin" / "runs").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("api_version", [V1, "client.authentication.k8s.io/v1beta1"])
async def test_exec_plugin_token_is_cached_until_it_expires(
    cluster: ClusterHandle,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
    clients: list[KubeClient],
    api_version: str,
) -> None:
    path = exec_kubeconfig(tmp_path, cluster, "static", api_version)
    (tmp_path / "bin" / "token").write_text(sa_token(kubectl, namespace, "plugged"))
    client = await connect(clients, path)
    assert await whoami(client) == f"system:serviceaccount:{namespace}:plugged"
    assert await whoami(client) == f"system:serviceaccount:{namespace}:plugged"
    (info,) = runs(tmp_path)  # no expirationTimestamp: one run serves every request
    assert info["apiVersion"] == api_version and info["kind"] == "ExecCredential"
    assert info["spec"]["interactive"] is False
    assert info["spec"]["cluster"]["server"] == client.host


async def test_exec_plugin_runs_again_when_the_token_expires(
    cluster: ClusterHandle,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
    clients: list[KubeClient],
) -> None:
    path = exec_kubeconfig(tmp_path, cluster, "expiring")
    token = tmp_path / "bin" / "token"
    token.write_text(sa_token(kubectl, namespace, "early"))
    client = await connect(clients, path)
    assert await whoami(client) == f"system:serviceaccount:{namespace}:early"
    token.write_text(sa_token(kubectl, namespace, "late"))
    assert await whoami(client) == f"system:serviceaccount:{namespace}:late"
    assert len(runs(tmp_path)) == 2


@pytest.mark.parametrize(
    ("mode", "cause"),
    [
        ("fail", "exited with 3: token expired: run `login` again"),
        ("garbage", "did not print an ExecCredential (not JSON)"),
    ],
)
async def test_failing_exec_plugin_is_a_one_line_error(
    cluster: ClusterHandle,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
    clients: list[KubeClient],
    mode: str,
    cause: str,
) -> None:
    path = exec_kubeconfig(tmp_path, cluster, mode)
    secret = sa_token(kubectl, namespace, "hidden")
    (tmp_path / "bin" / "token").write_text(secret)
    client = await connect(clients, path)
    with pytest.raises(KubeconfigError) as info:
        await whoami(client)
    assert str(info.value) == f"exec plugin 'plugin.py' of user 'u': {cause}"
    assert secret not in str(info.value)


# -- TLS -------------------------------------------------------------------------------


def admin_user(cluster: ClusterHandle) -> dict[str, Any]:
    user: dict[str, Any] = admin(cluster)["users"][0]["user"]
    return user


async def test_tls_server_name_is_the_name_checked(
    cluster: ClusterHandle, tmp_path: Path, clients: list[KubeClient]
) -> None:
    # The server certificate names kubernetes.default (and 127.0.0.1, the URL's host).
    good = kubeconfig(
        tmp_path / "good",
        cluster,
        admin_user(cluster),
        cluster_extra={"tls-server-name": "kubernetes.default"},
    )
    assert await whoami(await connect(clients, good)) != "system:anonymous"
    wrong = kubeconfig(
        tmp_path / "wrong",
        cluster,
        admin_user(cluster),
        cluster_extra={"tls-server-name": "wrong.example"},
    )
    with pytest.raises(Unavailable) as info:
        await whoami(await connect(clients, wrong))
    assert "wrong.example" in str(info.value)


async def test_insecure_skip_tls_verify_trusts_an_unknown_server(
    cluster: ClusterHandle, tmp_path: Path, clients: list[KubeClient]
) -> None:
    strict = kubeconfig(tmp_path / "strict", cluster, admin_user(cluster), with_ca=False)
    with pytest.raises(Unavailable) as info:
        await whoami(await connect(clients, strict))
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    insecure = kubeconfig(
        tmp_path / "insecure",
        cluster,
        admin_user(cluster),
        with_ca=False,
        cluster_extra={"insecure-skip-tls-verify": True},
    )
    assert await whoami(await connect(clients, insecure)) != "system:anonymous"
