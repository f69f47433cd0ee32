"""Kubeconfig parsing, kubectl's merge of several files, context selection, in-cluster
credentials and ExecCredential parsing: the pure parts of Tether's credentials loader."""

from __future__ import annotations

import base64
import datetime
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.kube.auth import Authenticator, parse_exec_credential
from tether.kube.kubeconfig import (
    BasicAuth,
    BearerToken,
    ExecPlugin,
    InteractiveMode,
    KubeconfigError,
    NoAuth,
    Pem,
    TokenFile,
    in_cluster,
    kubeconfig_paths,
    load_credentials,
)

SECRET = "s3cr3t-token-value"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def config(
    cluster: str = "c",
    user: str = "u",
    context: str = "ctx",
    *,
    server: str = "https://127.0.0.1:6443",
    cluster_body: dict[str, Any] | None = None,
    user_body: dict[str, Any] | None = None,
    context_body: dict[str, Any] | None = None,
    current: str | None = "ctx",
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, **(cluster_body or {})}}],
        "users": [{"name": user, "user": user_body or {}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": cluster, "user": user, **(context_body or {})},
            }
        ],
    }
    if current is not None:
        doc["current-context"] = current
    return doc


# -- one file ---------------------------------------------------------------------------


def test_inline_data_and_token_are_read_from_the_current_context(tmp_path: Path) -> None:
    path = write(
        tmp_path / "config",
        config(
            cluster_body={
                "certificate-authority-data": b64(b"CA PEM"),
                "tls-server-name": "kubernetes",
                "proxy-url": "http://127.0.0.1:3128",
            },
            user_body={
                "token": SECRET,
                "client-certificate-data": b64(b"CERT"),
                "client-key-data": b64(b"KEY"),
            },
            context_body={"namespace": "team-a"},
        ),
    )
    creds = load_credentials(str(path))
    assert creds.server == "https://127.0.0.1:6443"
    assert creds.auth == BearerToken(SECRET)
    assert creds.namespace == "team-a"
    assert creds.proxy_url == "http://127.0.0.1:3128"
    assert creds.tls.server_name == "kubernetes" and not creds.tls.insecure
    assert creds.tls.ca is not None and creds.tls.ca.read() == b"CA PEM"
    assert creds.tls.client_key is not None and creds.tls.client_key.read() == b"KEY"
    assert creds.origin == f"kubeconfig {path}, context 'ctx'"
    assert SECRET not in repr(creds) and "KEY" not in repr(creds.tls.client_key)


def test_relative_paths_are_relative_to_the_file_that_names_them(tmp_path: Path) -> None:
    path = write(
        tmp_path / "sub" / "config",
        config(
            cluster_body={"certificate-authority": "pki/ca.crt"},
            user_body={"tokenFile": "token", "client-certificate": "/abs/cert.pem"},
        ),
    )
    creds = load_credentials(str(path))
    assert creds.tls.ca == Pem(creds.tls.ca.what, path=tmp_path / "sub" / "pki" / "ca.crt")
    assert creds.auth == TokenFile(tmp_path / "sub" / "token")
    assert creds.tls.client_cert is not None
    assert creds.tls.client_cert.path == Path("/abs/cert.pem")


def test_context_flag_picks_another_context(tmp_path: Path) -> None:
    doc = config()
    doc["clusters"].append({"name": "other", "cluster": {"server": "https://10.0.0.1"}})
    doc["users"].append({"name": "admin", "user": {"username": "a", "password": SECRET}})
    doc["contexts"].append({"name": "prod", "context": {"cluster": "other", "user": "admin"}})
    path = write(tmp_path / "config", doc)
    creds = load_credentials(str(path), "prod")
    assert creds.server == "https://10.0.0.1"
    assert creds.auth == BasicAuth("a", SECRET)
    assert creds.origin.endswith("context 'prod'")


def test_exec_plugin_fields_and_a_relative_command(tmp_path: Path) -> None:
    path = write(
        tmp_path / "config",
        config(
            user_body={
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1",
                    "command": "./bin/plugin",
                    "args": ["get-token", "--cluster", "c"],
                    "env": [{"name": "MODE", "value": "x"}],
                    "interactiveMode": "Never",
                    "provideClusterInfo": True,
                }
            }
        ),
    )
    auth = load_credentials(str(path)).auth
    assert auth == ExecPlugin(
        command=str(tmp_path / "bin" / "plugin"),
        args=("get-token", "--cluster", "c"),
        env=(("MODE", "x"),),
        api_version="client.authentication.k8s.io/v1",
        interactive_mode=InteractiveMode.NEVER,
        provide_cluster_info=True,
        user="u",
    )


def test_a_bare_exec_command_is_looked_up_on_path(tmp_path: Path) -> None:
    exec_spec = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws"}
    path = write(tmp_path / "config", config(user_body={"exec": exec_spec}))
    auth = load_credentials(str(path)).auth
    assert isinstance(auth, ExecPlugin) and auth.command == "aws"
    assert auth.interactive_mode is InteractiveMode.IF_AVAILABLE


def test_no_user_means_no_authorization(tmp_path: Path) -> None:
    doc = config()
    del doc["contexts"][0]["context"]["user"]
    assert load_credentials(str(write(tmp_path / "c", doc))).auth == NoAuth()


# -- merging -------------------------------------------------------------------------


def test_kubeconfig_list_merges_first_file_wins_and_skips_missing(tmp_path: Path) -> None:
    first = write(tmp_path / "a", config(server="https://first", current="ctx"))
    second_doc = config(server="https://second", current="late")
    second_doc["contexts"].append({"name": "late", "context": {"cluster": "c", "user": "u"}})
    second_doc["clusters"].append({"name": "only2", "cluster": {"server": "https://only2"}})
    second_doc["contexts"].append({"name": "two", "context": {"cluster": "only2", "user": "u"}})
    second = write(tmp_path / "b", second_doc)
    env = {"KUBECONFIG": os.pathsep.join([str(tmp_path / "missing"), str(first), str(second)])}

    creds = load_credentials(None, None, env)
    assert creds.server == "https://first"  # ctx and c from the first file
    assert load_credentials(None, "late", env).server == "https://first"  # c still from a
    assert load_credentials(None, "two", env).server == "https://only2"


def test_kubeconfig_paths_default_and_dedupe(tmp_path: Path) -> None:
    assert kubeconfig_paths(None, {}) == (Path("~/.kube/config").expanduser(),)
    listed = os.pathsep.join(["/a", "", "/b", "/a"])
    assert kubeconfig_paths(None, {"KUBECONFIG": listed}) == (Path("/a"), Path("/b"))
    assert kubeconfig_paths("/x", {"KUBECONFIG": "/a"}) == (Path("/x"),)


# -- failures: one line, naming the file or context, no secret ---------------------------


@pytest.mark.parametrize(
    ("doc", "context", "expected"),
    [
        (config(), "nope", "no context named 'nope'"),
        (config(current=None), None, "no current-context and no --context given"),
        (
            config(context_body={"cluster": "gone"}),
            None,
            "context 'ctx': no cluster named 'gone'",
        ),
        (config(context_body={"user": "ghost"}), None, "context 'ctx': no user named 'ghost'"),
        (config(server="127.0.0.1:6443"), None, "cluster 'c' has no https:// server"),
        (
            config(cluster_body={"certificate-authority-data": "not base64!"}),
            None,
            "certificate-authority-data is not valid base64",
        ),
        (
            config(user_body={"auth-provider": {"name": "oidc", "config": {"secret": SECRET}}}),
            None,
            "auth-provider 'oidc' is not supported",
        ),
        (
            config(user_body={"exec": {"apiVersion": "v9", "command": "x"}}),
            None,
            "exec apiVersion 'v9' is not one of",
        ),
        (
            config(user_body={"token": SECRET, "username": "a", "password": SECRET}),
            None,
            "sets both a token and a username/password",
        ),
    ],
)
def test_bad_kubeconfig_is_one_line_naming_the_file(
    tmp_path: Path, doc: dict[str, Any], context: str | None, expected: str
) -> None:
    path = write(tmp_path / "config", doc)
    with pytest.raises(KubeconfigError) as info:
        load_credentials(str(path), context)
    message = str(info.value)
    assert expected in message and str(path) in message
    assert "\n" not in message and SECRET not in message


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match=r"kubeconfig .*/absent: cannot read"):
        load_credentials(str(tmp_path / "absent"))
    bad = tmp_path / "bad"
    bad.write_text("clusters: [\n  - {name: x\n")
    with pytest.raises(KubeconfigError, match=r"kubeconfig .*/bad: not valid YAML at line"):
        load_credentials(str(bad))
    (tmp_path / "list").write_text("- a\n- b\n")
    with pytest.raises(KubeconfigError, match="not a mapping"):
        load_credentials(str(tmp_path / "list"))


def test_a_missing_referenced_file_is_named_when_read(tmp_path: Path) -> None:
    path = write(tmp_path / "config", config(cluster_body={"certificate-authority": "ca.crt"}))
    ca = load_credentials(str(path)).tls.ca
    assert ca is not None
    with pytest.raises(KubeconfigError) as info:
        ca.read()
    assert str(info.value) == (
        f"certificate-authority of cluster 'c' in {path}: "
        f"cannot read {tmp_path / 'ca.crt'}: No such file or directory"
    )


def test_nothing_found_and_not_in_a_cluster(tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "none")}
    with pytest.raises(KubeconfigError, match="no such file and not in a cluster"):
        load_credentials(None, None, env)


# -- in-cluster --------------------------------------------------------------------------


def service_account(tmp_path: Path) -> Path:
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text(SECRET + "\n")
    (sa / "ca.crt").write_text("CA")
    (sa / "namespace").write_text("tether-system")
    return sa


def test_in_cluster_reads_the_service_environment_and_account(tmp_path: Path) -> None:
    sa = service_account(tmp_path)
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    creds = in_cluster(env, sa)
    assert creds.server == "https://10.96.0.1:443"
    assert creds.auth == TokenFile(sa / "token")
    assert creds.namespace == "tether-system"
    assert creds.tls.ca is not None and creds.tls.ca.path == sa / "ca.crt"
    ipv6 = in_cluster({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}, sa)
    assert ipv6.server == "https://[fd00::1]:443"


def test_in_cluster_failures_name_the_cause(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="KUBERNETES_SERVICE_HOST/PORT are not set"):
        in_cluster({}, tmp_path)
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(KubeconfigError, match=f"no token file {tmp_path}/token"):
        in_cluster(env, tmp_path)


async def test_token_file_is_re_read_when_it_changes(tmp_path: Path) -> None:
    sa = service_account(tmp_path)
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    auth = Authenticator(in_cluster(env, sa))
    assert await auth.header() == f"Bearer {SECRET}"
    (sa / "token.new").write_text("rotated-token")
    (sa / "token.new").replace(sa / "token")  # as the kubelet swaps a projected volume
    assert await auth.header() == "Bearer rotated-token"


# -- ExecCredential --------------------------------------------------------------------

V1 = "client.authentication.k8s.io/v1"


def exec_output(status: Any, api_version: str = V1) -> bytes:
    return json.dumps(
        {"apiVersion": api_version, "kind": "ExecCredential", "status": status}
    ).encode()


def test_exec_credential_token_and_expiry() -> None:
    token = parse_exec_credential(
        exec_output({"token": SECRET, "expirationTimestamp": "2030-01-02T03:04:05Z"}), V1, "p"
    )
    assert token.value == SECRET
    assert token.expires == datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert not token.fresh(datetime.datetime(2030, 1, 2, 3, 4, 0, tzinfo=datetime.UTC))
    assert token.fresh(datetime.datetime(2030, 1, 2, 3, 0, 0, tzinfo=datetime.UTC))
    assert parse_exec_credential(exec_output({"token": "t"}), V1, "p").expires is None


@pytest.mark.parametrize(
    ("out", "expected"),
    [
        (b"Error: " + SECRET.encode(), "did not print an ExecCredential (not JSON)"),
        (json.dumps({"kind": "Other"}).encode(), "did not print an ExecCredential"),
        (exec_output({"token": SECRET}, "client.authentication.k8s.io/v1beta1"), "apiVersion"),
        (exec_output({}), "ExecCredential has no status.token"),
        (exec_output({"token": SECRET, "expirationTimestamp": "soon"}), "is not RFC 3339"),
        (exec_output({"clientCertificateData": "x", "clientKeyData": "y"}), "not supported"),
    ],
)
def test_bad_exec_credential_is_one_line_without_the_output(out: bytes, expected: str) -> None:
    with pytest.raises(KubeconfigError) as info:
        parse_exec_credential(out, V1, "exec plugin 'p'")
    message = str(info.value)
    assert message.startswith("exec plugin 'p': ") and expected in message
    assert SECRET not in message and "\n" not in message
