"""Kubernetes credentials from a kubeconfig (merged as kubectl merges it) or in-cluster.

``load_credentials(kubeconfig, context)`` returns one immutable ``Credentials`` value: the
server URL, the TLS material (CA, client certificate and key, insecure,
tls-server-name), how to authenticate (a bearer token, a token file, basic auth
or an exec credential plugin), the context's namespace and a proxy URL.

The rules are kubectl's: ``$KUBECONFIG`` may list several files (``os.pathsep``);
missing ones are skipped; the first file that names a cluster, user or context
(or sets ``current-context``) wins; relative paths in a file are relative to that
file's folder. An explicit ``--kubeconfig`` must exist. With no kubeconfig given
or found and ``KUBERNETES_SERVICE_HOST`` set, the pod's service account is used.

This module reads files and decodes; it never talks to a server. Building the
TLS context and the ``Authorization`` header (token refresh, exec plugins) is
``tether.kube.auth``. Every failure is a ``KubeconfigError`` whose one-line
message names the file or context and the cause, never a secret value.

Tether has its own loader instead of kubernetes_asyncio's because importing that
package loads every generated model and API class: 38 MiB resident for a client
that only needs the credentials (see specs/design.md).
"""

from __future__ import annotations

import base64
import binascii
import enum
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.kube.errors import KubeError

DEFAULT_KUBECONFIG = "~/.kube/config"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")


class KubeconfigError(KubeError):
    """Credentials could not be loaded: names the file or context and the cause."""


# -- the value ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pem:
    """PEM material given inline (``*-data``, decoded) or as a file read when used."""

    what: str  # for messages: "certificate-authority of cluster 'c' in /a/config"
    data: bytes | None = field(default=None, repr=False)
    path: Path | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise KubeconfigError(f"{self.what}: cannot read {self.path}: {_cause(exc)}") from None


@dataclass(frozen=True)
class TLSConfig:
    ca: Pem | None = None
    client_cert: Pem | None = None
    client_key: Pem | None = None
    insecure: bool = False  # insecure-skip-tls-verify
    server_name: str = ""  # tls-server-name: the name the server certificate is checked for


@dataclass(frozen=True)
class NoAuth:
    """No Authorization header (client certificate only, or anonymous)."""


@dataclass(frozen=True)
class BearerToken:
    token: str = field(repr=False)


@dataclass(frozen=True)
class TokenFile:
    """A bearer token read from a file, re-read when the file changes (projected tokens)."""

    path: Path


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password: str = field(repr=False)


class InteractiveMode(enum.Enum):
    NEVER = "Never"
    IF_AVAILABLE = "IfAvailable"
    ALWAYS = "Always"


@dataclass(frozen=True)
class ExecPlugin:
    """An exec credential plugin (``client.authentication.k8s.io`` v1 or v1beta1)."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    api_version: str = EXEC_API_VERSIONS[0]
    interactive_mode: InteractiveMode = InteractiveMode.IF_AVAILABLE
    provide_cluster_info: bool = False
    install_hint: str = ""
    user: str = ""  # the kubeconfig user, for messages


Auth = NoAuth | BearerToken | TokenFile | BasicAuth | ExecPlugin


@dataclass(frozen=True)
class Credentials:
    """Everything needed to reach and authenticate to one API server."""

    server: str
    origin: str  # "kubeconfig /a/config, context 'c'" or "in-cluster service account"
    tls: TLSConfig = TLSConfig()
    auth: Auth = NoAuth()
    namespace: str = ""  # the context's namespace; "" when it names none
    proxy_url: str = ""


# -- kubeconfig files ----------------------------------------------------------------


@dataclass(frozen=True)
class KubeconfigFile:
    path: Path
    doc: Mapping[str, Any]


@dataclass(frozen=True)
class Entry:
    """One named cluster, user or context and the file that defined it."""

    name: str
    body: Mapping[str, Any]
    source: Path


@dataclass(frozen=True)
class MergedConfig:
    files: tuple[Path, ...]
    clusters: Mapping[str, Entry]
    users: Mapping[str, Entry]
    contexts: Mapping[str, Entry]
    current_context: str

    def describe(self) -> str:
        return "kubeconfig " + os.pathsep.join(str(p) for p in self.files)


def kubeconfig_paths(explicit: str | None, env: Mapping[str, str]) -> tuple[Path, ...]:
    """The files to merge: ``--kubeconfig``, else ``$KUBECONFIG``'s list, else the default."""
    if explicit:
        return (Path(explicit).expanduser(),)
    listed = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return tuple(dict.fromkeys(Path(p).expanduser() for p in listed))
    return (Path(DEFAULT_KUBECONFIG).expanduser(),)


def read_kubeconfig(path: Path) -> KubeconfigFile:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        text = path.read_text()
    except OSError as exc:
        raise KubeconfigError(f"kubeconfig {path}: cannot read: {_cause(exc)}") from None
    try:
        doc = YAML(typ="safe").load(text) or {}
    except YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise KubeconfigError(f"kubeconfig {path}: not valid YAML{line}") from None
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig {path}: not a mapping")
    return KubeconfigFile(path, doc)


def merge(files: Sequence[KubeconfigFile]) -> MergedConfig:
    """kubectl's merge: the first file to name an entry or set current-context wins."""
    tables: dict[str, dict[str, Entry]] = {"clusters": {}, "users": {}, "contexts": {}}
    singular = {"clusters": "cluster", "users": "user", "contexts": "context"}
    current = ""
    for file in files:
        for key, table in tables.items():
            items = file.doc.get(key) or []
            if not isinstance(items, list):
                raise KubeconfigError(f"kubeconfig {file.path}: {key} is not a list")
            for item in items:
                name, body = _named(item, singular[key], file.path)
                table.setdefault(name, Entry(name, body, file.path))
        current = current or str(file.doc.get("current-context") or "")
    return MergedConfig(
        files=tuple(f.path for f in files),
        clusters=tables["clusters"],
        users=tables["users"],
        contexts=tables["contexts"],
        current_context=current,
    )


def _named(item: Any, key: str, path: Path) -> tuple[str, Mapping[str, Any]]:
    if not isinstance(item, dict) or not item.get("name"):
        raise KubeconfigError(f"kubeconfig {path}: a {key} entry without a name")
    body = item.get(key) or {}
    if not isinstance(body, dict):
        raise KubeconfigError(f"kubeconfig {path}: {key} {item['name']!r} is not a mapping")
    return str(item["name"]), body


def select(merged: MergedConfig, context: str | None) -> Credentials:
    """The credentials of ``context`` (or current-context) in a merged kubeconfig."""
    where = merged.describe()
    name = context or merged.current_context
    if not name:
        raise KubeconfigError(f"{where}: no current-context and no --context given")
    ctx = merged.contexts.get(name)
    if ctx is None:
        raise KubeconfigError(f"{where}: no context named {name!r}")
    origin = f"{where}, context {name!r}"
    cluster = _lookup(merged.clusters, ctx.body.get("cluster"), "cluster", origin)
    user_name = str(ctx.body.get("user") or "")
    user = merged.users.get(user_name) if user_name else None
    if user_name and user is None:
        raise KubeconfigError(f"{origin}: no user named {user_name!r}")
    server = str(cluster.body.get("server") or "")
    if not server.startswith(("https://", "http://")):
        raise KubeconfigError(f"{origin}: cluster {cluster.name!r} has no https:// server URL")
    return Credentials(
        server=server.rstrip("/"),
        origin=origin,
        tls=_tls(cluster, user),
        auth=_auth(user) if user is not None else NoAuth(),
        namespace=str(ctx.body.get("namespace") or ""),
        proxy_url=str(cluster.body.get("proxy-url") or ""),
    )


def _lookup(table: Mapping[str, Entry], name: Any, kind: str, origin: str) -> Entry:
    entry = table.get(str(name or ""))
    if entry is None:
        raise KubeconfigError(f"{origin}: no {kind} named {str(name or '')!r}")
    return entry


def _tls(cluster: Entry, user: Entry | None) -> TLSConfig:
    return TLSConfig(
        ca=_pem(cluster, "certificate-authority", "cluster"),
        client_cert=_pem(user, "client-certificate", "user") if user else None,
        client_key=_pem(user, "client-key", "user") if user else None,
        insecure=bool(cluster.body.get("insecure-skip-tls-verify")),
        server_name=str(cluster.body.get("tls-server-name") or ""),
    )


def _pem(entry: Entry, key: str, kind: str) -> Pem | None:
    what = f"{key} of {kind} {entry.name!r} in {entry.source}"
    data = entry.body.get(f"{key}-data")
    if data:
        try:
            return Pem(what, data=base64.b64decode(str(data), validate=True))
        except (binascii.Error, ValueError):
            raise KubeconfigError(f"{what}: {key}-data is not valid base64") from None
    path = entry.body.get(key)
    return Pem(what, path=_relative(entry.source, str(path))) if path else None


def _relative(source: Path, path: str) -> Path:
    """kubectl resolves a relative path against the folder of the file that holds it."""
    resolved = Path(path).expanduser()
    return resolved if resolved.is_absolute() else source.parent / resolved


def _auth(user: Entry) -> Auth:
    body = user.body
    origin = f"user {user.name!r} in {user.source}"
    if body.get("auth-provider"):
        provider = (body["auth-provider"] or {}).get("name", "")
        raise KubeconfigError(
            f"{origin}: auth-provider {provider!r} is not supported; use an exec plugin"
        )
    token = str(body.get("token") or "")
    basic = body.get("username") or body.get("password")
    if (token or body.get("tokenFile")) and basic:
        raise KubeconfigError(f"{origin}: sets both a token and a username/password")
    if token:
        return BearerToken(token)
    if body.get("tokenFile"):
        return TokenFile(_relative(user.source, str(body["tokenFile"])))
    if body.get("exec"):
        return _exec_plugin(user, body["exec"], origin)
    if basic:
        return BasicAuth(str(body.get("username") or ""), str(body.get("password") or ""))
    return NoAuth()


def _exec_plugin(user: Entry, spec: Any, origin: str) -> ExecPlugin:
    if not isinstance(spec, dict) or not spec.get("command"):
        raise KubeconfigError(f"{origin}: exec has no command")
    version = str(spec.get("apiVersion") or "")
    if version not in EXEC_API_VERSIONS:
        raise KubeconfigError(
            f"{origin}: exec apiVersion {version!r} is not one of {', '.join(EXEC_API_VERSIONS)}"
        )
    mode_text = spec.get("interactiveMode") or "IfAvailable"
    try:
        mode = InteractiveMode(mode_text)
    except ValueError:
        raise KubeconfigError(f"{origin}: exec interactiveMode {mode_text!r} is unknown") from None
    command = str(spec["command"])
    if os.sep in command and not Path(command).is_absolute():
        command = str(user.source.parent / command)
    env = tuple(
        (str(e.get("name") or ""), str(e.get("value") or ""))
        for e in spec.get("env") or ()
        if isinstance(e, dict)
    )
    return ExecPlugin(
        command=command,
        args=tuple(str(a) for a in spec.get("args") or ()),
        env=env,
        api_version=version,
        interactive_mode=mode,
        provide_cluster_info=bool(spec.get("provideClusterInfo")),
        install_hint=str(spec.get("installHint") or "").strip(),
        user=user.name,
    )


# -- in-cluster ------------------------------------------------------------------------


def in_cluster(env: Mapping[str, str], sa_dir: Path = SERVICE_ACCOUNT_DIR) -> Credentials:
    """The pod's service account: the API's service address, its CA and projected token."""
    host = env.get("KUBERNETES_SERVICE_HOST", "")
    port = env.get("KUBERNETES_SERVICE_PORT", "")
    origin = "in-cluster service account"
    if not host or not port:
        raise KubeconfigError(f"{origin}: KUBERNETES_SERVICE_HOST/PORT are not set")
    token = sa_dir / "token"
    if not token.is_file():
        raise KubeconfigError(f"{origin}: no token file {token}")
    namespace_file = sa_dir / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else ""
    host = f"[{host}]" if ":" in host else host
    return Credentials(
        server=f"https://{host}:{port}",
        origin=origin,
        tls=TLSConfig(ca=Pem(f"{origin} CA", path=sa_dir / "ca.crt")),
        auth=TokenFile(token),
        namespace=namespace,
    )


# -- the entry point -----------------------------------------------------------------


def load_credentials(
    kubeconfig: str | None = None,
    context: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Credentials:
    """``--kubeconfig``/``$KUBECONFIG``/``~/.kube/config``, or in-cluster when none exists."""
    env = os.environ if env is None else env
    paths = kubeconfig_paths(kubeconfig, env)
    if kubeconfig:
        return select(merge([read_kubeconfig(paths[0])]), context)
    present = [p for p in paths if p.exists()]
    if not present:
        if env.get("KUBERNETES_SERVICE_HOST"):
            return in_cluster(env)
        listed = os.pathsep.join(str(p) for p in paths)
        raise KubeconfigError(f"kubeconfig {listed}: no such file and not in a cluster")
    return select(merge([read_kubeconfig(p) for p in present]), context)


def _cause(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
