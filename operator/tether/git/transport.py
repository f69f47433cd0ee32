"""Build dulwich clients for a remote and translate their failures into typed errors.

One ``Connection`` serves one network operation. It carries a dulwich client
configured with the credentials and a timeout on every socket, plus an
``abort()`` that kills any ssh process it started, so a caller that gives up
on a deadline leaves nothing running.

SSH runs the system ``ssh`` client (not git) with strict host-key checking
against the secret's known_hosts only, no agent, no user config, batch mode.
HTTP(S) uses dulwich's urllib3 client with basic auth or a bearer header,
sent only to the origin of the repository URL. ``translate_error`` maps every
failure to ``tether.git.errors``; it never copies credentials into messages.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from dulwich.client import (
    GitClient,
    HTTPProxyUnauthorized,
    HTTPUnauthorized,
    LocalGitClient,
    SSHGitClient,
    SSHVendor,
    SubprocessWrapper,
    TCPGitClient,
    Urllib3HttpGitClient,
)
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.protocol import DEFAULT_GIT_PROTOCOL_VERSION_FETCH, Protocol

from tether.git.auth import GitAuth, SSHFiles
from tether.git.errors import (
    AuthenticationError,
    GitError,
    GitTimeoutError,
    HostKeyError,
    NetworkUnreachableError,
    RepositoryNotFoundError,
)
from tether.git.urls import GitURL


@dataclass
class Connection:
    """A dulwich client plus the path to ask it for, and a way to abort it."""

    client: GitClient
    path: str
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    aborted: bool = False

    def track(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            if self.aborted:
                process.kill()
            self._processes.append(process)

    def abort(self) -> None:
        """Kill every ssh process this connection started (safe from any thread)."""
        with self._lock:
            self.aborted = True
            for process in self._processes:
                if process.poll() is None:
                    process.kill()


def connect(
    url: GitURL, auth: GitAuth, *, timeout: float, ssh_files: SSHFiles | None
) -> Connection:
    """Return a ``Connection`` for ``url``; ``ssh_files`` is required for ssh URLs."""
    if url.scheme in ("http", "https"):
        return Connection(_http_client(url, auth, timeout), url.path)
    if url.scheme == "git":
        return Connection(_TimeoutTCPClient(url.host, url.port, timeout=timeout), url.path)
    if url.scheme == "file":
        return Connection(LocalGitClient(), url.path)
    assert ssh_files is not None, "ssh URLs need key files"
    connection = Connection(LocalGitClient(), url.path)
    vendor = _StrictSSHVendor(ssh_files, timeout=timeout, track=connection.track)
    connection.client = SSHGitClient(
        url.host,
        port=url.port,
        username=auth.username or url.username,
        vendor=vendor,
        key_filename=str(ssh_files.identity) if ssh_files.identity else None,
    )
    return connection


def _http_client(url: GitURL, auth: GitAuth, timeout: float) -> GitClient:
    username = auth.username or url.username
    password = auth.password if auth.password is not None else url.password
    if auth.bearer_token is not None:
        return _HttpClient(url.base_url, token=auth.bearer_token, timeout=timeout)
    if username is None:
        return _HttpClient(url.base_url, timeout=timeout)
    return _HttpClient(url.base_url, username=username, password=password or "", timeout=timeout)


# How much of a refusing server's answer to keep: its first words, not a whole page.
_REFUSAL_BODY_BYTES = 1024


class _HttpClient(Urllib3HttpGitClient):
    """dulwich's urllib3 client, plus a bearer token, and refusals in the server's words.

    ``Authorization: Bearer`` goes to the repository's own origin only. dulwich
    reports e.g. a 403 as "unexpected http resp 403"; a host refusing a push says
    why in the body ("Permission to x denied to y"), which is what people need.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
    ) -> None:
        super().__init__(base_url, username=username, password=password, timeout=timeout)
        self._bearer = f"Bearer {token}" if token is not None else None
        self._bearer_origin = self._origin(base_url)

    def _http_request(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        data: Any = None,
        raise_for_status: bool = True,
    ) -> Any:
        merged = dict(headers or {})
        if self._bearer is not None and self._origin(url) == self._bearer_origin:
            merged["Authorization"] = self._bearer
        resp, read = super()._http_request(url, merged, data, raise_for_status=False)
        if not raise_for_status or resp.status == 200:
            return resp, read
        if resp.status == 404:
            raise NotGitRepository
        if resp.status == 401:
            raise HTTPUnauthorized(resp.headers.get("WWW-Authenticate"), url)
        if resp.status == 407:
            raise HTTPProxyUnauthorized(resp.headers.get("Proxy-Authenticate"), url)
        body = read(_REFUSAL_BODY_BYTES).decode("utf-8", "replace")
        said = " ".join(body.split())[:300]
        status = f"HTTP {resp.status} {getattr(resp, 'reason', '') or ''}".strip()
        raise GitProtocolError(f"{status}: {said}" if said else status)


class _TimeoutTCPClient(TCPGitClient):
    """git:// client whose socket connects and reads with a timeout."""

    def __init__(self, host: str, port: int | None, *, timeout: float) -> None:
        super().__init__(host, port=port)
        self._timeout = timeout

    def _connect(
        self, cmd: bytes, path: str | bytes, protocol_version: int | None = None
    ) -> tuple[Protocol, Callable[[], bool], IO[bytes] | None]:
        raw_path = path.encode() if isinstance(path, str) else path
        sock = socket.create_connection((self._host, self._port), timeout=self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb", -1)
        writer = sock.makefile("wb", 0)

        def close() -> None:
            reader.close()
            writer.close()
            sock.close()

        def shutdown_write() -> None:
            writer.flush()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)

        proto = Protocol(reader.read, writer.write, close, shutdown_write=shutdown_write)
        self.protocol_version = protocol_version or DEFAULT_GIT_PROTOCOL_VERSION_FETCH
        extra = b""
        if cmd == b"upload-pack" and self.protocol_version == 2:
            extra = b"\0\0version=2\0"
        proto.send_cmd(
            b"git-" + cmd,
            raw_path.removeprefix(b"/~") if raw_path.startswith(b"/~") else raw_path,
            b"host=" + self._host.encode("ascii") + extra,
        )
        return proto, lambda: _readable(sock), None


def _readable(sock: socket.socket) -> bool:
    import select

    ready, _, _ = select.select([sock], [], [], 0)
    return bool(ready)


class _StrictSSHVendor(SSHVendor):
    """Runs the system ssh client with strict host keys, our files only, and a timeout."""

    def __init__(
        self, files: SSHFiles, *, timeout: float, track: Callable[[subprocess.Popen[bytes]], None]
    ) -> None:
        self._files = files
        self._timeout = max(1, int(timeout))
        self._track = track

    def run_command(
        self,
        host: str,
        command: bytes,
        username: str | None = None,
        port: int | None = None,
        password: str | None = None,
        key_filename: str | None = None,
        ssh_command: str | None = None,
        protocol_version: int | None = None,
    ) -> SubprocessWrapper:
        if host.startswith("-") or (username or "").startswith("-"):
            raise NetworkUnreachableError(f"refusing strange ssh host {host!r}")
        args = ["ssh", "-x", "-T", "-F", "/dev/null"]
        for option in self._options(protocol_version):
            args += ["-o", option]
        if port:
            args += ["-p", str(port)]
        if key_filename:
            args += ["-i", key_filename]
        args.append(f"{username}@{host}" if username else host)
        process = subprocess.Popen(
            [*args, command.decode()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            start_new_session=True,
        )
        self._track(process)
        return SubprocessWrapper(process)

    def _options(self, protocol_version: int | None) -> list[str]:
        version = protocol_version or DEFAULT_GIT_PROTOCOL_VERSION_FETCH
        return [
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            f"UserKnownHostsFile={self._files.known_hosts}",
            "GlobalKnownHostsFile=/dev/null",
            "UpdateHostKeys=no",
            "CheckHostIP=no",
            "IdentitiesOnly=yes",
            "IdentityAgent=none",
            "PasswordAuthentication=no",
            "KbdInteractiveAuthentication=no",
            f"ConnectTimeout={self._timeout}",
            "ServerAliveInterval=5",
            f"ServerAliveCountMax={max(1, self._timeout // 5)}",
            f"SetEnv=GIT_PROTOCOL=version={version}",
        ]


_HOST_KEY_CHANGED = ("REMOTE HOST IDENTIFICATION HAS CHANGED", "Host key for", "has changed")
_HOST_KEY_UNKNOWN = (
    "Host key verification failed",
    "No ED25519 host key is known",
    "host key is known",
)
_AUTH_FAILED = (
    "Permission denied",
    "Authentication failed",
    "authentication failed",
    "Too many authentication failures",
)
_UNREACHABLE = (
    "Connection refused",
    "Could not resolve hostname",
    "Name or service not known",
    "Network is unreachable",
    "No route to host",
    "Failed to establish a new connection",
    "Connection closed by",
    "Connection reset",
)
_TIMED_OUT = ("timed out", "Timeout", "timeout")
_NOT_FOUND = (
    "does not appear to be a git repository",
    "not a git repository",
    "repository not exported",
    "No such file or directory",
    "Repository not found",
    "no such repository",
    "not found",
)
_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNRESET}


def translate_error(exc: BaseException, *, url: str, ref: str = "") -> GitError:
    """Map a dulwich, socket or ssh failure to the matching ``GitError`` subclass."""
    if isinstance(exc, GitError):
        return exc
    if isinstance(exc, HTTPUnauthorized | HTTPProxyUnauthorized):
        return AuthenticationError(
            "authentication failed: the server refused the credentials", url=url, ref=ref
        )
    if isinstance(exc, NotGitRepository):
        return RepositoryNotFoundError("repository not found", url=url, ref=ref)
    if isinstance(exc, TimeoutError | socket.timeout):
        return GitTimeoutError("timed out talking to the server", url=url, ref=ref)
    if isinstance(exc, socket.gaierror):
        return NetworkUnreachableError("cannot resolve the host name", url=url, ref=ref)
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return NetworkUnreachableError(f"cannot reach the server: {exc.strerror}", url=url, ref=ref)
    if isinstance(exc, HangupException | GitProtocolError):
        cause = _socket_cause(exc)
        if cause is not None and not getattr(exc, "stderr_lines", None):
            return translate_error(cause, url=url, ref=ref)
        return _from_text(_message_of(exc), url=url, ref=ref)
    return GitError(f"unexpected failure: {type(exc).__name__}", url=url, ref=ref)


def _socket_cause(exc: BaseException) -> OSError | None:
    """The reset or timed-out read under dulwich's "hung up" / protocol errors, if any.

    A server killed with connections still in its listen backlog resets them; dulwich
    reports that as a hang-up, which alone cannot be told from a server refusing.
    """
    cause = exc.__cause__
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__
    if isinstance(cause, TimeoutError) or (
        isinstance(cause, OSError) and cause.errno in _UNREACHABLE_ERRNOS
    ):
        return cause
    return None


def _message_of(exc: BaseException) -> str:
    lines = getattr(exc, "stderr_lines", None)
    if lines:
        return "\n".join(line.decode("utf-8", "replace") for line in lines)
    return str(exc)


def _from_text(text: str, *, url: str, ref: str) -> GitError:
    first = _summary(text)
    if any(marker in text for marker in _HOST_KEY_CHANGED):
        return HostKeyError(
            "SSH host key changed: it does not match known_hosts",
            reason="changed",
            url=url,
            ref=ref,
        )
    if any(marker in text for marker in _HOST_KEY_UNKNOWN):
        return HostKeyError(
            "SSH host key unknown: add the server's key to known_hosts in the secret",
            reason="unknown",
            url=url,
            ref=ref,
        )
    if any(marker in text for marker in _AUTH_FAILED):
        return AuthenticationError(f"authentication failed: {first}", url=url, ref=ref)
    if any(marker in text for marker in _UNREACHABLE):
        return NetworkUnreachableError(f"cannot reach the server: {first}", url=url, ref=ref)
    if any(marker in text for marker in _TIMED_OUT):
        return GitTimeoutError(f"timed out: {first}", url=url, ref=ref)
    if any(marker in text for marker in _NOT_FOUND):
        return RepositoryNotFoundError(f"repository not found: {first}", url=url, ref=ref)
    return GitError(f"git protocol error: {first}", url=url, ref=ref)


def _summary(text: str) -> str:
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("@@@")
    ]
    return (lines[-1] if lines else "the server closed the connection")[:300]
