"""Kubeconfig files embed their credentials and point at one server."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tether.localcluster.kubeconfig import Credentials, render_kubeconfig, write_kubeconfig


def _load(text: str) -> dict:  # type: ignore[type-arg]
    return YAML(typ="safe").load(text)  # type: ignore[no-any-return]


def test_certificate_kubeconfig_embeds_ca_cert_and_key() -> None:
    doc = _load(
        render_kubeconfig(
            "https://127.0.0.1:6443", b"CA-PEM", "admin", Credentials(b"CERT", b"KEY")
        )
    )
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"CA-PEM"
    user = doc["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]) == b"CERT"
    assert base64.b64decode(user["client-key-data"]) == b"KEY"
    assert doc["current-context"] == doc["contexts"][0]["name"]


def test_token_kubeconfig_sets_namespace_and_no_certificate() -> None:
    doc = _load(
        render_kubeconfig(
            "https://127.0.0.1:1",
            b"CA",
            "system:serviceaccount:ns:sa",
            Credentials(token="t0k"),
            "ns",
        )
    )
    assert doc["users"][0]["user"] == {"token": "t0k"}
    assert doc["contexts"][0]["context"]["namespace"] == "ns"


def test_credentials_without_token_or_key_are_rejected() -> None:
    with pytest.raises(ValueError, match="token or a certificate"):
        Credentials(cert_pem=b"CERT").as_user()


def test_written_kubeconfig_is_owner_only(tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "kc", "https://127.0.0.1:1", b"CA", "u", Credentials(token="secret")
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _load(path.read_text())["users"][0]["user"]["token"] == "secret"
