"""Real Git servers on 127.0.0.1 for the Git tests and the fetch bench.

``git daemon`` (git://), ``git http-backend`` behind a small threaded HTTP
server that demands basic auth or a bearer token and records every request,
and OpenSSH's ``sshd`` on a high port with generated host and client keys. The
git CLI is used here only to build fixtures and run servers, never by Tether.
"""

from __future__ import annotations

import base64
import gzip
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Tether Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Tether Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": os.environ.get("HOME", "/root"),
}


def git(*args: str, cwd: Path | None = None) -> str:
    """Run the git CLI for fixture setup; return stdout."""
    done = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        env=GIT_ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    process: subprocess.Popen[bytes] | None = None,
    timeout: float = 15,
    host: str = "127.0.0.1",
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def git_daemon_argv(base: Path, port: int, *extra: str, listen: str = "127.0.0.1") -> list[str]:
    """Run ``git-daemon`` itself, so that the Popen's pid is the server.

    ``git daemon`` is a wrapper that starts ``git-daemon`` as a child and waits for
    it: SIGSTOP sent to the wrapper stops nothing, and SIGKILL leaves the real
    daemon serving, orphaned. Fault tests signal this process and must hit the server.
    """
    return [
        str(Path(git("--exec-path")) / "git-daemon"),
        "--export-all",
        "--reuseaddr",
        *extra,
        f"--base-path={base}",
        f"--listen={listen}",
        f"--port={port}",
        str(base),
    ]


def start_git_daemon(
    base: Path, listen: str = "127.0.0.1", *, receive_pack: bool = False
) -> tuple[subprocess.Popen[bytes], int]:
    """A git daemon serving ``base``; the process returned is the daemon, not a wrapper.

    ``receive_pack`` enables pushes (``--enable=receive-pack``), for write-back tests.
    """
    port = free_port()
    extra = ("--enable=receive-pack",) if receive_pack else ()
    process = subprocess.Popen(
        git_daemon_argv(base, port, "--informative-errors", *extra, listen=listen),
        env=GIT_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, process, host=listen)
    return process, port


@dataclass
class HttpGitServer:
    """``git http-backend`` behind auth; ``requests`` records (method, path, query).

    ``username``/``password`` and ``token`` may read and push (``http.receivepack
    true``); ``readonly_username``/``readonly_password`` may only read: for them
    http-backend runs with ``http.receivepack false`` and refuses pushes itself.
    """

    base: Path
    username: str = "alice"
    password: str = "s3cret-pass"
    token: str = "tok-0123456789"
    readonly_username: str = "reader"
    readonly_password: str = "read-only-pass"
    port: int = 0
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    pack_requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # paths answered 401
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def upload_pack_posts(self) -> int:
        """POSTs to git-upload-pack (with protocol v2 ls-refs is one too)."""
        return sum(1 for m, p, _ in self.requests if m == "POST" and p.endswith("/git-upload-pack"))

    def pack_negotiations(self) -> int:
        """upload-pack POSTs that asked for objects (v2 ``command=fetch`` or v0 ``want``)."""
        return len(self.pack_requests)

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _authorized(self) -> bool:
                return self._may_push() or self._read_only()

            def _may_push(self) -> bool:
                header = self.headers.get("Authorization", "")
                if header == f"Bearer {owner.token}":
                    return True
                if header.startswith("Basic "):
                    raw = base64.b64decode(header[6:]).decode()
                    return raw == f"{owner.username}:{owner.password}"
                return False

            def _read_only(self) -> bool:
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    raw = base64.b64decode(header[6:]).decode()
                    return raw == f"{owner.readonly_username}:{owner.readonly_password}"
                return False

            def _serve(self) -> None:
                path, _, query = self.path.partition("?")
                owner.requests.append((self.command, path, query))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                plain = (
                    gzip.decompress(body)
                    if self.headers.get("Content-Encoding") == "gzip"
                    else body
                )
                if path.endswith("/git-upload-pack") and (
                    b"command=fetch" in plain or plain[4:9] == b"want "
                ):
                    owner.pack_requests.append(path)
                if not self._authorized():
                    owner.refused.append(path)
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                env = {
                    "PATH": os.environ["PATH"],
                    "GIT_PROJECT_ROOT": str(owner.base),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_USER": owner.username,
                    "REMOTE_ADDR": "127.0.0.1",
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                    "GIT_CONFIG_COUNT": "1",
                    "GIT_CONFIG_KEY_0": "http.receivepack",
                    "GIT_CONFIG_VALUE_0": "true" if self._may_push() else "false",
                }
                done = subprocess.run(
                    ["git", "http-backend"], input=body, env=env, capture_output=True
                )
                head, _, payload = done.stdout.partition(b"\r\n\r\n")
                status = 200
                headers = []
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif name:
                        headers.append((name, value.strip()))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass
class SSHServer:
    """sshd on 127.0.0.1 with generated keys; repositories are reached by absolute path."""

    folder: Path
    port: int
    user: str
    host_public: str
    client_key: bytes
    encrypted_client_key: bytes
    passphrase: str
    process: subprocess.Popen[bytes]
    # A deploy key limited to git-upload-pack by a forced command (pushes refused).
    readonly_key: bytes = b""

    @property
    def known_hosts(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_public}\n"

    def url(self, repo: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{repo}"


def keygen(path: Path, passphrase: str = "") -> None:
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            passphrase,
            "-C",
            "tether-test",
            "-f",
            str(path),
        ],
        check=True,
    )


def start_sshd(folder: Path) -> SSHServer:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    folder.mkdir(parents=True, exist_ok=True)
    keygen(folder / "host_key")
    keygen(folder / "client_key")
    keygen(folder / "client_key_enc", "correct horse")
    keygen(folder / "readonly_key")
    readonly_script = folder / "readonly.sh"
    readonly_script.write_text(
        "#!/bin/sh\n"
        'case "$SSH_ORIGINAL_COMMAND" in\n'
        '  git-upload-pack*) exec sh -c "$SSH_ORIGINAL_COMMAND" ;;\n'
        "esac\n"
        "echo 'ERROR: this deploy key is read-only; pushes are refused' >&2\n"
        "exit 1\n"
    )
    readonly_script.chmod(0o755)
    authorized = (
        (folder / "client_key.pub").read_text()
        + (folder / "client_key_enc.pub").read_text()
        + f'command="{readonly_script}",no-pty,no-port-forwarding '
        + (folder / "readonly_key.pub").read_text()
    )
    (folder / "authorized_keys").write_text(authorized)
    port = free_port()
    user = (
        os.environ.get("USER")
        or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    )
    config = folder / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {folder / 'host_key'}",
                f"PidFile {folder / 'sshd.pid'}",
                f"AuthorizedKeysFile {folder / 'authorized_keys'}",
                "UsePAM no",
                "StrictModes no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "AcceptEnv GIT_PROTOCOL",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sshd, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_port(port, process)
    host_public = " ".join((folder / "host_key.pub").read_text().split()[:2])
    return SSHServer(
        folder=folder,
        port=port,
        user=user,
        host_public=host_public,
        client_key=(folder / "client_key").read_bytes(),
        encrypted_client_key=(folder / "client_key_enc").read_bytes(),
        passphrase="correct horse",
        process=process,
        readonly_key=(folder / "readonly_key").read_bytes(),
    )


@dataclass
class SampleRepo:
    """The served sample repository and the SHAs the tests expect."""

    bare: Path
    work: Path
    shas: dict[str, str]


@dataclass
class Remote:
    """One transport to the served repositories: URL builder, credentials, insecure flag."""

    name: str
    url: Callable[[Path], str]
    auth: dict[str, str | bytes]
    insecure: bool
    bad_auth: dict[str, str | bytes]


def commit_files(work: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def symlink(work: Path, name: str, target: str) -> None:
    link = work / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def push_commit(work: Path, files: dict[str, str], message: str = "more") -> str:
    sha = commit_files(work, files, message)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    return sha


def git_remote(git_base: Path, port: int) -> Remote:
    return Remote(
        "git",
        lambda repo: f"git://127.0.0.1:{port}/{repo.relative_to(git_base)}",
        {},
        True,
        {},
    )


def http_remote_for(git_base: Path, server: HttpGitServer) -> Remote:
    return Remote(
        "http",
        lambda repo: f"{server.url}/{repo.relative_to(git_base)}",
        {"username": server.username, "password": server.password},
        True,
        {"username": server.username, "password": "wrong"},
    )


def ssh_remote_for(server: SSHServer) -> Remote:
    return Remote(
        "ssh",
        server.url,
        {"identity": server.client_key, "known_hosts": server.known_hosts},
        False,
        {"identity": _other_key(server), "known_hosts": server.known_hosts},
    )


def _other_key(server: SSHServer) -> bytes:
    path = server.folder / "stranger_key"
    if not path.exists():
        keygen(path)
    return path.read_bytes()
