"""The TLS context and the ``Authorization`` header for a ``Credentials`` value.

``ssl_context(creds)`` builds the one ``ssl.SSLContext`` both Tether's session and
kopf's use: the CA, the client certificate, insecure-skip-tls-verify, and
tls-server-name (the name the server's certificate is checked for and sent as
SNI, whatever host the URL names).

``Authenticator(creds)`` gives the current ``Authorization`` header:

* a static token or basic auth, as written;
* a token file, re-read whenever the file changes (a projected service-account
  token is rotated by the kubelet);
* an exec plugin, run again when its ``expirationTimestamp`` is near, or after the
  server answered 401 (``invalidate``); runs are serialised so a burst of requests
  starts one plugin.

Failures are ``KubeconfigError`` with a one-line message naming the plugin or the
file and the cause; a plugin's output never reaches a message (it holds the token).
The HTTP requests themselves are ``tether.kube.client``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import json
import os
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.kube.kubeconfig import (
    BasicAuth,
    BearerToken,
    Credentials,
    ExecPlugin,
    InteractiveMode,
    KubeconfigError,
    NoAuth,
    Pem,
    TokenFile,
)

EXEC_TIMEOUT = 60.0  # seconds a plugin may take
EXPIRY_MARGIN = datetime.timedelta(seconds=10)  # refresh this long before a token expires


class _NamedContext(ssl.SSLContext):
    """An SSLContext that checks (and sends as SNI) one fixed name: tls-server-name."""

    server_name: str = ""

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        kwargs["server_hostname"] = self.server_name
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        kwargs["server_hostname"] = self.server_name
        return super().wrap_socket(*args, **kwargs)


def ssl_context(creds: Credentials) -> ssl.SSLContext:
    """The TLS context for ``creds`` (files are read now: errors surface at connect)."""
    tls = creds.tls
    context: ssl.SSLContext
    if tls.server_name:
        context = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)
        context.server_name = tls.server_name
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if tls.ca is not None:
        _load(tls.ca, lambda pem: context.load_verify_locations(cadata=pem.decode("ascii")))
    else:
        context.load_default_certs()
    if tls.client_cert is not None or tls.client_key is not None:
        if tls.client_cert is None or tls.client_key is None:
            raise KubeconfigError(f"{creds.origin}: a client certificate needs a key, and back")
        _load_cert_chain(context, tls.client_cert, tls.client_key)
    if tls.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _load(pem: Pem, use: Any) -> None:
    try:
        use(pem.read())
    except (ssl.SSLError, ValueError, UnicodeDecodeError):
        raise KubeconfigError(f"{pem.what}: not a valid PEM certificate") from None


def _load_cert_chain(context: ssl.SSLContext, cert: Pem, key: Pem) -> None:
    """Python's ssl loads a certificate chain from files only: inline data goes to a
    private temporary file for the moment of loading."""
    with _as_file(cert) as cert_path, _as_file(key) as key_path:
        try:
            context.load_cert_chain(cert_path, key_path)
        except (ssl.SSLError, OSError):
            raise KubeconfigError(
                f"{cert.what}: the client certificate and key do not load as a pair"
            ) from None


@contextlib.contextmanager
def _as_file(pem: Pem) -> Iterator[str]:
    if pem.path is not None:
        pem.read()  # an unreadable file is named here, not as an SSL error
        yield str(pem.path)
        return
    with tempfile.NamedTemporaryFile(prefix="tether-tls-") as fh:  # mode 0600
        fh.write(pem.read())
        fh.flush()
        yield fh.name


# -- Authorization -----------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """A bearer token and when it stops being valid (None: until the server says 401)."""

    value: str = field(repr=False)
    expires: datetime.datetime | None = None

    def fresh(self, now: datetime.datetime) -> bool:
        return self.expires is None or now + EXPIRY_MARGIN < self.expires


class Authenticator:
    """The current Authorization header for one ``Credentials``; shared by all views."""

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds
        self._token: Token | None = None
        self._file_stamp: tuple[int, int, int] | None = None
        self._lock = asyncio.Lock()

    async def header(self) -> str | None:
        auth = self.creds.auth
        if isinstance(auth, NoAuth):
            return None
        if isinstance(auth, BasicAuth):
            raw = f"{auth.username}:{auth.password}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        token = await self.token()
        return f"Bearer {token.value}" if token is not None else None

    async def token(self) -> Token | None:
        """The bearer token now: static, re-read from its file, or from the exec plugin."""
        auth = self.creds.auth
        if isinstance(auth, BearerToken):
            return Token(auth.token)
        if isinstance(auth, TokenFile):
            return self._file_token(auth)
        if isinstance(auth, ExecPlugin):
            now = datetime.datetime.now(datetime.UTC)
            if self._token is not None and self._token.fresh(now):
                return self._token
            async with self._lock:
                if self._token is None or not self._token.fresh(now):
                    self._token = await run_exec_plugin(auth, self.creds)
            return self._token
        return None

    def invalidate(self) -> None:
        """The server refused the token (401): fetch a new one on the next request."""
        self._token = None
        self._file_stamp = None

    def _file_token(self, auth: TokenFile) -> Token:
        try:
            st = os.stat(auth.path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            if self._token is None or stamp != self._file_stamp:
                self._token = Token(auth.path.read_text().strip())
                self._file_stamp = stamp
        except OSError as exc:
            raise KubeconfigError(
                f"{self.creds.origin}: cannot read token file {auth.path}: "
                f"{exc.strerror or type(exc).__name__}"
            ) from None
        return self._token


# -- exec plugins ----------------------------------------------------------------------


async def run_exec_plugin(plugin: ExecPlugin, creds: Credentials) -> Token:
    """Run the plugin without a terminal and read the ExecCredential it prints."""
    name = f"exec plugin {Path(plugin.command).name!r} of user {plugin.user!r}"
    if plugin.interactive_mode is InteractiveMode.ALWAYS:
        raise KubeconfigError(f"{name}: needs an interactive terminal (interactiveMode Always)")
    env = {**os.environ, **dict(plugin.env)}
    env["KUBERNETES_EXEC_INFO"] = json.dumps(_exec_info(plugin, creds))
    try:
        proc = await asyncio.create_subprocess_exec(
            plugin.command,
            *plugin.args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except OSError as exc:
        hint = f" ({plugin.install_hint.splitlines()[0]})" if plugin.install_hint else ""
        raise KubeconfigError(
            f"{name}: cannot start: {exc.strerror or type(exc).__name__}{hint}"
        ) from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), EXEC_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise KubeconfigError(f"{name}: no answer within {EXEC_TIMEOUT:.0f} s") from None
    if proc.returncode != 0:
        last = _last_line(err)
        raise KubeconfigError(
            f"{name}: exited with {proc.returncode}" + (f": {last}" if last else "")
        )
    return parse_exec_credential(out, plugin.api_version, name)


def _exec_info(plugin: ExecPlugin, creds: Credentials) -> dict[str, Any]:
    spec: dict[str, Any] = {"interactive": False}
    if plugin.provide_cluster_info:
        cluster: dict[str, Any] = {"server": creds.server}
        if creds.tls.server_name:
            cluster["tls-server-name"] = creds.tls.server_name
        if creds.tls.insecure:
            cluster["insecure-skip-tls-verify"] = True
        if creds.tls.ca is not None:
            cluster["certificate-authority-data"] = base64.b64encode(creds.tls.ca.read()).decode()
        spec["cluster"] = cluster
    return {"apiVersion": plugin.api_version, "kind": "ExecCredential", "spec": spec}


def parse_exec_credential(out: bytes, api_version: str, name: str) -> Token:
    """The token and expiry of an ExecCredential; the output is never quoted back."""
    try:
        doc = json.loads(out)
    except (ValueError, UnicodeDecodeError):
        raise KubeconfigError(f"{name}: did not print an ExecCredential (not JSON)") from None
    if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
        raise KubeconfigError(f"{name}: did not print an ExecCredential")
    if doc.get("apiVersion") != api_version:
        raise KubeconfigError(
            f"{name}: printed apiVersion {str(doc.get('apiVersion'))!r}, expected {api_version!r}"
        )
    status = doc.get("status") or {}
    if not isinstance(status, dict):
        raise KubeconfigError(f"{name}: ExecCredential status is not a mapping")
    if status.get("clientCertificateData") or status.get("clientKeyData"):
        raise KubeconfigError(f"{name}: client certificates from exec plugins are not supported")
    token = status.get("token")
    if not isinstance(token, str) or not token:
        raise KubeconfigError(f"{name}: ExecCredential has no status.token")
    return Token(token, _expiry(status.get("expirationTimestamp"), name))


def _expiry(value: Any, name: str) -> datetime.datetime | None:
    if not value:
        return None
    try:
        when = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise KubeconfigError(f"{name}: expirationTimestamp {value!r} is not RFC 3339") from None
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)


def _last_line(err: bytes) -> str:
    """The plugin's last stderr line, for the message (cut short: it is the plugin's words)."""
    lines = [ln.strip() for ln in err.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""
