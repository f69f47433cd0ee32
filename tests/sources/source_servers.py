"""Real chart and artifact servers on 127.0.0.1 for the Helm/OCI source tests and the bench.

- ``RegistryServer``: the CNCF distribution registry built by ``e2e/build-tools.sh``
  (``~/.cache/tether/bin/registry``), over TLS from a test CA, with htpasswd auth
  or with token auth backed by ``TokenServer``.
- ``TokenServer``: a small Docker-style token service of ours (HTTPS, basic auth
  in, an RS256 JWT out), whose signing key's certificate is the registry's
  ``rootcertbundle``; it grants the scope asked for only to the right user.
- ``HelmRepoServer``: a static HTTPS server with basic auth over a folder holding
  ``index.yaml`` and charts packaged by the pinned ``helm package``; it honours
  ``If-None-Match`` / ``If-Modified-Since`` and counts requests and bytes per path.

Nothing here is Tether code: the servers are what Tether talks to.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import json
import os
import secrets
import socket
import ssl
import subprocess
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import parse_qs, urlsplit

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tether.localcluster.pki import new_ca

TOOLS = Path(os.environ.get("TETHER_CACHE", Path.home() / ".cache" / "tether")) / "bin"
REGISTRY_BIN = TOOLS / "registry"
HELM_BIN = TOOLS / "helm"
USER, PASSWORD = "chart-reader", "s3cret-chart-pass"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


class Server(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=Server)


@contextmanager
def serving(server: S) -> Iterator[S]:
    """Start ``server``, yield it, stop it: the body of every server fixture."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- TLS -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerTLS:
    """A test CA and a serving certificate for 127.0.0.1/localhost, as files."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    @property
    def ca_pem(self) -> str:
        return self.ca_file.read_text()

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_tls(folder: Path) -> ServerTLS:
    folder.mkdir(parents=True, exist_ok=True)
    ca = new_ca("tether-sources-test-ca")
    (folder / "ca.crt").write_bytes(ca.pair.cert_pem)
    cert, key = ca.issue_server("127.0.0.1", ["localhost"], ["127.0.0.1"]).write(folder, "server")
    return ServerTLS(folder / "ca.crt", cert, key)


def serve_tls(
    handler: type[BaseHTTPRequestHandler], port: int, tls: ServerTLS
) -> ThreadingHTTPServer:
    """A threaded HTTPS server on 127.0.0.1:``port``, serving in the background."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    server.socket = tls.server_context().wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    wait_for_port(port)
    return server


def stop_server(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


# -- request counting ----------------------------------------------------------------


@dataclass
class Traffic:
    """Requests and response bytes seen by a server, by (method, path) and by status."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    bytes_out: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, path: str, status: int, size: int) -> None:
        with self.lock:
            self.requests[f"{method} {path}"] += 1
            self.statuses[status] += 1
            self.bytes_out += size

    def snapshot(self) -> tuple[int, int]:
        """(requests so far, bytes so far)."""
        with self.lock:
            return sum(self.requests.values()), self.bytes_out

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.statuses.clear()
            self.bytes_out = 0


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


# -- Helm repository -------------------------------------------------------------------


class HelmRepoServer:
    """Static HTTPS files with basic auth and conditional GETs; see the module docstring."""

    def __init__(self, root: Path, tls: ServerTLS, *, user: str = USER, password: str = PASSWORD):
        self.root = root
        self.tls = tls
        self.user, self.password = user, password
        self.bearer: str | None = None  # set to also accept "Authorization: Bearer <token>"
        self.delay = 0.0  # seconds each answer waits: makes concurrent requests overlap
        self.traffic = Traffic()
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/charts"

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, size = outer._answer(self)
                outer.traffic.record("GET", urlsplit(self.path).path, status, size)

        self._server = serve_tls(Handler, self.port, self.tls)

    def stop(self) -> None:
        stop_server(self._server)

    def _authorized(self, header: str | None) -> bool:
        if self.bearer is not None and header == f"Bearer {self.bearer}":
            return True
        given = _basic(header)
        return given is not None and secrets.compare_digest(
            f"{given[0]}:{given[1]}", f"{self.user}:{self.password}"
        )

    def _answer(self, handler: BaseHTTPRequestHandler) -> tuple[int, int]:
        time.sleep(self.delay)
        if not self._authorized(handler.headers.get("Authorization")):
            body = b"unauthorized\n"
            handler.send_response(401)
            handler.send_header("WWW-Authenticate", 'Basic realm="charts"')
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return 401, len(body)
        path = urlsplit(handler.path).path
        relative = path.removeprefix("/charts/")
        target = (self.root / relative).resolve()
        if not path.startswith("/charts/") or not target.is_relative_to(self.root.resolve()):
            return self._plain(handler, 404, b"not found\n")
        if not target.is_file():
            return self._plain(handler, 404, b"not found\n")
        data = target.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        modified = email.utils.formatdate(int(target.stat().st_mtime), usegmt=True)
        if handler.headers.get("If-None-Match") == etag or (
            handler.headers.get("If-None-Match") is None
            and handler.headers.get("If-Modified-Since") == modified
        ):
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.send_header("Last-Modified", modified)
            handler.end_headers()
            return 304, 0
        handler.send_response(200)
        handler.send_header("ETag", etag)
        handler.send_header("Last-Modified", modified)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
        return 200, len(data)

    @staticmethod
    def _plain(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> tuple[int, int]:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return status, len(body)


def helm(*args: str, cwd: Path | None = None, home: Path | None = None) -> str:
    """Run the pinned helm with a private HOME (no host repositories or registries)."""
    env = helm_env(home) if home is not None else {"PATH": os.environ.get("PATH", "/bin")}
    done = subprocess.run(
        [str(HELM_BIN), *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


def write_chart(
    folder: Path,
    name: str,
    version: str,
    *,
    message: str = "hello",
    dependencies: list[dict[str, str]] | None = None,
) -> Path:
    """A small chart: one ConfigMap whose data names the chart version and a value."""
    chart = folder / f"src-{name}-{version}" / name
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    meta: dict[str, object] = {"apiVersion": "v2", "name": name, "version": version}
    if dependencies:
        meta["dependencies"] = dependencies
    (chart / "Chart.yaml").write_text(json.dumps(meta))
    (chart / "values.yaml").write_text(f"message: {message}\n")
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-"
        + name
        + "\ndata:\n  version: {{ .Chart.Version | quote }}\n"
        "  message: {{ .Values.message | quote }}\n"
    )
    return chart


def package_chart(chart: Path, dest: Path, home: Path) -> Path:
    """``helm package`` the chart folder into ``dest``; return the .tgz."""
    dest.mkdir(parents=True, exist_ok=True)
    out = helm("package", str(chart), "--destination", str(dest), home=home)
    return Path(out.strip().rsplit(" ", 1)[-1])


def tar_chart(chart: Path, dest: Path) -> Path:
    """A chart .tgz made without helm (so its remote dependencies stay unvendored)."""
    dest.mkdir(parents=True, exist_ok=True)
    meta = json.loads((chart / "Chart.yaml").read_text())
    out = dest / f"{meta['name']}-{meta['version']}.tgz"
    with tarfile.open(out, "w:gz") as tar:
        tar.add(chart, arcname=chart.name)
    return out


def publish(repo: Path, name: str, version: str, home: Path, **chart_args: object) -> Path:
    """Package a chart into the served folder and rebuild its index.yaml."""
    chart = write_chart(home / "charts-src", name, version, **chart_args)  # type: ignore[arg-type]
    packaged = package_chart(chart, repo, home)
    helm("repo", "index", str(repo), home=home)
    return packaged


# -- token server ----------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Docker registry token auth: basic credentials in, an RS256 JWT for the scope out."""

    ISSUER = "tether-test-issuer"
    SERVICE = "tether-test-registry"

    def __init__(self, folder: Path, tls: ServerTLS, *, user: str = USER, password: str = PASSWORD):
        self.tls = tls
        self.user, self.password = user, password
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tether-token-signer")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = folder / "token-signer.crt"
        self.bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.traffic = Traffic()
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        return f"https://127.0.0.1:{self.port}/token"

    def kid(self) -> str:
        numbers = self.key.public_key().public_numbers()
        e = _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"))
        n = _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))
        thumb = f'{{"e":"{e}","kty":"RSA","n":"{n}"}}'
        return _b64url(hashlib.sha256(thumb.encode()).digest())

    def token(self, scopes: list[str], subject: str) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid()}
        claims = {
            "iss": self.ISSUER,
            "sub": subject,
            "aud": self.SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{_b64url(signature)}"

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                given = _basic(self.headers.get("Authorization"))
                query = parse_qs(urlsplit(self.path).query)
                if given != (outer.user, outer.password):
                    body = b'{"errors":[{"code":"UNAUTHORIZED"}]}'
                    self.send_response(401)
                else:
                    jwt = outer.token(query.get("scope", []), given[0])
                    body = json.dumps({"token": jwt, "access_token": jwt}).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                outer.traffic.record("GET", "/token", 200 if given else 401, len(body))

        self._server = serve_tls(Handler, self.port, self.tls)

    def stop(self) -> None:
        stop_server(self._server)


# -- registry --------------------------------------------------------------------------


class RegistryServer:
    """The distribution registry on 127.0.0.1 over TLS, with htpasswd or token auth."""

    def __init__(
        self, folder: Path, tls: ServerTLS, *, token: TokenServer | None = None, user: str = USER
    ):
        self.folder = folder
        self.tls = tls
        self.token = token
        self.user = user
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"oci://{self.host}"

    def config(self) -> str:
        auth: dict[str, object]
        if self.token is not None:
            auth = {
                "token": {
                    "realm": self.token.realm,
                    "service": TokenServer.SERVICE,
                    "issuer": TokenServer.ISSUER,
                    "rootcertbundle": str(self.token.bundle),
                }
            }
        else:
            hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
            (self.folder / "htpasswd").write_text(f"{self.user}:{hashed}\n")
            auth = {"htpasswd": {"realm": "tether-test", "path": str(self.folder / "htpasswd")}}
        config = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.folder / "data")},
                "delete": {"enabled": True},
            },
            "http": {
                "addr": self.host,
                "secret": secrets.token_hex(16),
                "tls": {"certificate": str(self.tls.cert_file), "key": str(self.tls.key_file)},
            },
            "auth": auth,
        }
        return json.dumps(config)  # JSON is YAML

    def start(self) -> None:
        if not REGISTRY_BIN.exists():
            raise RuntimeError(f"{REGISTRY_BIN} is missing: run `bash e2e/build-tools.sh registry`")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "config.yml"
        path.write_text(self.config())
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_SDK_DISABLED": "true",
        }
        log = (self.folder / "registry.log").open("wb")
        self._process = subprocess.Popen(
            [str(REGISTRY_BIN), "serve", str(path)], stdout=log, stderr=log, env=env
        )
        wait_for_port(self.port, self._process)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def helm_registry_login(registry: RegistryServer, home: Path) -> None:
    """Log the pinned helm (private HOME) into the registry, trusting the test CA."""
    subprocess.run(
        [
            str(HELM_BIN),
            "registry",
            "login",
            registry.host,
            "--username",
            USER,
            "--password-stdin",
            "--ca-file",
            str(registry.tls.ca_file),
        ],
        input=PASSWORD,
        text=True,
        check=True,
        capture_output=True,
        env=helm_env(home),
    )


def helm_push(registry: RegistryServer, tgz: Path, namespace: str, home: Path) -> str:
    """``helm push`` a packaged chart to ``oci://host/namespace``; return helm's output."""
    done = subprocess.run(
        [
            str(HELM_BIN),
            "push",
            str(tgz),
            f"{registry.url}/{namespace}",
            "--ca-file",
            str(registry.tls.ca_file),
        ],
        text=True,
        check=True,
        capture_output=True,
        env=helm_env(home),
    )
    return done.stdout + done.stderr


def helm_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
