"""Write self-contained kubeconfig files (credentials embedded as base64 data).

One cluster, one user, one context per file. Either a client certificate or a
bearer token authenticates the user. Nothing here talks to a server.
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

CONTEXT_NAME = "tether-local"


@dataclass(frozen=True)
class Credentials:
    """Either a PEM client certificate + key, or a bearer token."""

    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    token: str | None = None

    def as_user(self) -> dict[str, str]:
        if self.token is not None:
            return {"token": self.token}
        if self.cert_pem is None or self.key_pem is None:
            raise ValueError("credentials need a token or a certificate and key")
        return {
            "client-certificate-data": _b64(self.cert_pem),
            "client-key-data": _b64(self.key_pem),
        }


def render_kubeconfig(
    server: str, ca_pem: bytes, user: str, creds: Credentials, namespace: str | None = None
) -> str:
    """Return kubeconfig YAML for ``user`` on ``server``."""
    context: dict[str, str] = {"cluster": CONTEXT_NAME, "user": user}
    if namespace:
        context["namespace"] = namespace
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT_NAME,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [{"name": user, "user": creds.as_user()}],
        "contexts": [{"name": CONTEXT_NAME, "context": context}],
        "current-context": CONTEXT_NAME,
        "preferences": {},
    }
    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(doc, out)
    return out.getvalue()


def write_kubeconfig(
    path: Path,
    server: str,
    ca_pem: bytes,
    user: str,
    creds: Credentials,
    namespace: str | None = None,
) -> Path:
    """Write the kubeconfig to ``path`` readable by the owner only and return the path."""
    text = render_kubeconfig(server, ca_pem, user, creds, namespace)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
