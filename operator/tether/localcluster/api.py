"""A minimal synchronous admin client for bootstrapping the local cluster.

Only what start-up needs: health probes, create-if-absent, GET, and the
TokenRequest call that mints service-account tokens. It authenticates with the
admin client certificate. The product code uses ``tether.kube.client``, not this.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tether.localcluster.errors import ClusterRequestError

_TIMEOUT = 10.0


@dataclass(frozen=True)
class AdminClient:
    """HTTPS client for ``server`` trusting ``ca_file`` and presenting a client cert."""

    server: str
    ca_file: Path
    cert_file: Path
    key_file: Path

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send one request; return (status, decoded JSON body or text)."""
        parts = urlsplit(self.server)
        conn = http.client.HTTPSConnection(
            parts.hostname or "127.0.0.1", parts.port, context=self._context(), timeout=_TIMEOUT
        )
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {"Accept": "application/json"}
            if payload is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            raw = resp.read().decode("utf-8", "replace")
        finally:
            conn.close()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw

    def get(self, path: str) -> Any:
        """GET ``path`` and return its JSON, raising ClusterRequestError if not 200."""
        status, data = self.request("GET", path)
        if status != 200:
            raise ClusterRequestError("GET", path, status, _reason(data))
        return data

    def create(self, path: str, obj: dict[str, Any], *, exist_ok: bool = True) -> Any:
        """POST ``obj`` to the collection ``path``; an AlreadyExists is fine if ``exist_ok``."""
        status, data = self.request("POST", path, obj)
        if status in (200, 201, 202) or (status == 409 and exist_ok):
            return data
        raise ClusterRequestError("POST", path, status, _reason(data))

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx


def _reason(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("message") or data.get("reason") or data)
    return str(data)[:500]
