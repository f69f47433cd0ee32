"""SOURCE and its flags, shared by ``render``, ``diff`` and ``sync``.

SOURCE is a local folder, a Git URL, a Helm repository URL (``--repo-type helm
--chart NAME``) or an OCI URL (``oci://``, ``--repo-type oci``, with ``--chart``
for a chart under it). A folder is read as it is; a Git URL is resolved and
fetched through the shared Git cache, then read from the object store; a Helm
or OCI source goes through ``tether.sources`` exactly as the operator's
Repository controller does (the same request, resolve, digest cache and tree). Credentials never come from argv: they come from environment variables
or files (``--auth-file``, ``--ssh-key``, ``--known-hosts``), so they stay out of
shell history and process listings.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tether.appspec import SourceSpec, render_options_from_flags
from tether.cli.messages import cli_message
from tether.git import FileURLPolicy, GitAuth, GitCache, GitError
from tether.manifests import (
    JsonnetOptions,
    JsonnetVar,
    LocalTree,
    ManifestError,
    RenderOptions,
    RenderResult,
    render,
)
from tether.manifests.objects import Manifest
from tether.sources import Access, Credentials, SourceError, SourceFetcher, SourceRequest
from tether.sources.fetch import render_root, source_request
from tether.tools import cache_dir
from tether.tree import TreeError

if TYPE_CHECKING:
    from tether.controller.rendering import SourceTree

F = TypeVar("F", bound=Callable[..., Any])

AUTH_ENV = {
    "username": "TETHER_GIT_USERNAME",
    "password": "TETHER_GIT_PASSWORD",
    "bearerToken": "TETHER_GIT_BEARER_TOKEN",
    "passphrase": "TETHER_GIT_SSH_PASSPHRASE",
}


MULTI_SOURCE_HELP = (
    "One source of a multi-source render, instead of SOURCE (repeatable): comma-separated "
    "url=URL (a folder, Git, Helm or oci:// URL), and optionally type=git|helm|oci, "
    "chart=NAME, revision=REV, path=PATH, ref=NAME and values=FILE (repeatable; "
    "$NAME/path reads FILE from the source with ref=NAME), e.g. --source "
    "'url=https://charts.example,type=helm,chart=web,values=$cfg/web/values.yaml' "
    "--source 'url=https://git.example/cfg.git,revision=main,ref=cfg'. The other flags "
    "(credentials, --set, --release-name...) apply to every source."
)


def source_options(func: F) -> F:
    """Add SOURCE and the flags that select and render it."""
    return _with_source_options(func, click.argument("source"))


def multi_source_options(func: F) -> F:
    """``source_options`` with SOURCE optional and ``--source`` repeatable (render/diff/sync)."""
    func = click.option(
        "--source", "source_specs", multiple=True, metavar="SPEC", help=MULTI_SOURCE_HELP
    )(func)
    return _with_source_options(func, click.argument("source", required=False))


def _with_source_options(func: F, argument: Callable[[F], F]) -> F:
    decorators: list[Callable[[F], F]] = [
        argument,
        click.option(
            "--revision",
            default="HEAD",
            show_default=True,
            help="Branch, tag, commit SHA, full ref or semver range (Git sources).",
        ),
        click.option("--path", default="", help="Folder inside the source to render."),
        click.option("--recurse", is_flag=True, help="Read subfolders of a plain directory."),
        click.option(
            "--include",
            multiple=True,
            metavar="GLOB",
            help="Only read files matching GLOB (repeatable).",
        ),
        click.option(
            "--exclude",
            multiple=True,
            metavar="GLOB",
            help="Skip files matching GLOB (repeatable; wins over --include).",
        ),
        *jsonnet_options(),
        click.option(
            "--values",
            "value_files",
            multiple=True,
            metavar="FILE",
            help="Helm value file inside the source, relative to the chart (repeatable).",
        ),
        click.option(
            "--set",
            "set_values",
            multiple=True,
            metavar="KEY=VALUE",
            help="Helm value override (repeatable).",
        ),
        click.option(
            "--release-name",
            default=None,
            help="Helm release name (default: the app name, as in Argo CD).",
        ),
        click.option(
            "--chart",
            default=None,
            metavar="NAME",
            help="A chart of the Helm repository or under the OCI path SOURCE; --revision "
            "is its version, range, tag or digest.",
        ),
        click.option(
            "--repo-type",
            type=click.Choice(["git", "helm", "oci"]),
            default=None,
            help="What SOURCE is (default: oci for oci:// URLs, else git).",
        ),
        click.option(
            "--ca-file",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="PEM CA bundle trusted for a Helm repository or OCI registry.",
        ),
        click.option(
            "--insecure",
            is_flag=True,
            help="Allow http://, git:// and file:// Git URLs (helm/oci: plain HTTP).",
        ),
        click.option(
            "--auth-file",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="YAML mapping or Secret manifest with username/password, bearerToken "
            "or identity/known_hosts.",
        ),
        click.option(
            "--ssh-key",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="SSH private key file.",
        ),
        click.option(
            "--known-hosts",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="known_hosts file for strict host-key checking (default ~/.ssh/known_hosts).",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def jsonnet_options() -> list[Callable[[F], F]]:
    """The flags for a folder's Jsonnet files (directory.jsonnet in an Application)."""
    pairs = [
        ("--jsonnet-ext-var", "NAME=VALUE", "External variable, a string (repeatable)."),
        ("--jsonnet-ext-code", "NAME=CODE", "External variable, Jsonnet code (repeatable)."),
        ("--jsonnet-tla", "NAME=VALUE", "Top-level argument, a string (repeatable)."),
        ("--jsonnet-tla-code", "NAME=CODE", "Top-level argument, Jsonnet code (repeatable)."),
        ("--jsonnet-lib", "PATH", "Jsonnet library folder in the source (repeatable)."),
    ]
    return [
        click.option(flag, multiple=True, metavar=meta, help=text) for flag, meta, text in pairs
    ]


def jsonnet_from_flags(
    ext_vars: Sequence[str], ext_codes: Sequence[str], tlas: Sequence[str], tla_codes: Sequence[str]
) -> tuple[tuple[JsonnetVar, ...], tuple[JsonnetVar, ...]]:
    """External variables and top-level arguments from NAME=VALUE flags, strings first."""

    def parse(flag: str, items: Sequence[str], code: bool) -> list[JsonnetVar]:
        out = []
        for item in items:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise click.BadParameter(f"{flag} {item!r}: expected NAME=VALUE")
            out.append(JsonnetVar(name, value, code))
        return out

    return (
        (
            *parse("--jsonnet-ext-var", ext_vars, False),
            *parse("--jsonnet-ext-code", ext_codes, True),
        ),
        (*parse("--jsonnet-tla", tlas, False), *parse("--jsonnet-tla-code", tla_codes, True)),
    )


@dataclass(frozen=True)
class LoadedSource:
    """A render and the Git commit it was made from ("" for a local folder)."""

    result: RenderResult
    commit: str = ""
    places: tuple[str, ...] = ()  # several sources: each object's ``sources[i]:file[doc n]``


@contextlib.contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while rendering, so a running helm or kustomize is
    killed with its process group and the render's temp folder removed (by their
    ``finally`` blocks) instead of being left behind by an abrupt exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(_signum: int, _frame: object) -> None:
        raise SystemExit(128 + signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def load_source(**params: Any) -> RenderResult:
    """Render SOURCE (same parameters as :func:`load_source_at`); raise ClickException."""
    return load_source_at(**params).result


def load_source_at(
    source: str,
    revision: str = "HEAD",
    path: str = "",
    insecure: bool = False,
    auth_file: str | None = None,
    ssh_key: str | None = None,
    known_hosts: str | None = None,
    helm_namespace: str = "",
    app_name: str | None = None,
    chart: str | None = None,
    repo_type: str | None = None,
    ca_file: str | None = None,
    **flags: Any,
) -> LoadedSource:
    """Render SOURCE and say which commit it came from ("" for a local folder).

    For a Helm or OCI source the "commit" is ``<version>@sha256:<digest>``.

    ``flags`` are the render flags of ``source_options`` (others are ignored).
    Raises click.ClickException with one clear line on any failure.
    """
    options = flag_render_options(flags, helm_namespace)
    specs = tuple(flags.get("source_specs") or ())
    if specs or not source:
        if source or not specs:
            raise click.UsageError("give SOURCE or one or more --source, not both or neither")
        per_source = {
            "--revision": revision != "HEAD",
            "--path": bool(path),
            "--chart": bool(chart),
            "--repo-type": bool(repo_type),
            "--values": bool(flags.get("value_files")),
        }
        misplaced = [flag for flag, given in per_source.items() if given]
        if misplaced:
            raise click.UsageError(
                f"{', '.join(misplaced)}: with --source, write these inside each --source"
            )
        auth = _auth(auth_file, ssh_key, known_hosts)
        with exit_on_sigterm():
            return _load_sources(specs, options, app_name or "tether", auth, ca_file, insecure)
    name = app_name or chart or default_app_name(source, path)
    kind = repo_type or ("oci" if source.startswith("oci://") else "git")
    with exit_on_sigterm():
        try:
            if kind != "git":
                access = _access(auth_file, ca_file, insecure)
                request = source_request(kind, source, chart or "", revision)
                return _render_artifact(request, access, path, options, name)
            if chart:
                raise click.BadParameter("--chart needs --repo-type helm or oci")
            local = Path(source)
            if local.is_dir():
                tree = LocalTree(local)
                return LoadedSource(render(tree, path, options, app_name=name, cache_key=None), "")
            if local.is_file():
                if path:
                    raise click.BadParameter(f"{source} is a file; --path applies to folders")
                tree = LocalTree(local.resolve().parent)
                return LoadedSource(
                    render(tree, local.name, options, app_name=name, cache_key=None), ""
                )
            if "://" not in source and "@" not in source:
                raise click.ClickException(f"{source}: no such folder or file, and not a Git URL")
            auth = _auth(auth_file, ssh_key, known_hosts)
            return asyncio.run(_render_git(source, revision, auth, insecure, path, options, name))
        except (GitError, ManifestError, TreeError, SourceError) as exc:
            raise click.ClickException(cli_message(exc)) from None


def parse_source_spec(text: str, options: RenderOptions) -> tuple[SourceSpec, str, str]:
    """(the source, its URL or folder, its type) of one ``--source`` SPEC."""
    fields: dict[str, str] = {}
    values: list[str] = []
    for item in (part for part in text.split(",") if part):
        key, sep, value = item.partition("=")
        if not sep or key not in _SPEC_KEYS:
            raise click.BadParameter(
                f"{item!r}: expected one of {', '.join(sorted(_SPEC_KEYS))} as KEY=VALUE",
                param_hint="--source",
            )
        if key == "values":
            values.append(value)
        elif key in fields:
            raise click.BadParameter(f"{key} is given twice in {text!r}", param_hint="--source")
        else:
            fields[key] = value
    if not fields.get("url"):
        raise click.BadParameter(f"{text!r} has no url=", param_hint="--source")
    url = fields["url"]
    kind = fields.get("type") or ("oci" if url.startswith("oci://") else "git")
    if kind not in ("git", "helm", "oci"):
        raise click.BadParameter(f"type={kind}: expected git, helm or oci", param_hint="--source")
    render = replace(options, helm=replace(options.helm, value_files=tuple(values)))
    source = SourceSpec(
        repo_url=url,
        revision=fields.get("revision") or "HEAD",
        path=fields.get("path", "").strip("/"),
        render=render,
        chart=fields.get("chart", ""),
        ref=fields.get("ref", ""),
    )
    return source, url, kind


_SPEC_KEYS = frozenset({"url", "type", "chart", "revision", "path", "ref", "values"})


def _load_sources(
    specs: Sequence[str],
    options: RenderOptions,
    app_name: str,
    auth: GitAuth,
    ca_file: str | None,
    insecure: bool,
) -> LoadedSource:
    """Read every ``--source`` and render them together, as the operator renders
    ``spec.sources`` (``tether.controller.rendering.render_sources_blocking``)."""
    from tether.appspec import AppSpec
    from tether.controller.rendering import render_sources_blocking

    parsed = [parse_source_spec(spec, options) for spec in specs]
    refs = [source.ref for source, _, _ in parsed if source.ref]
    if len(refs) != len(set(refs)):
        raise click.BadParameter("two sources have the same ref=", param_hint="--source")
    try:
        parts = [
            _source_tree(source, url, kind, auth, ca_file, insecure) for source, url, kind in parsed
        ]
        app = AppSpec(name=app_name, sources=tuple(part.source for part in parts))
        rendered = render_sources_blocking(parts, app)
    except (GitError, ManifestError, TreeError, SourceError) as exc:
        raise click.ClickException(cli_message(exc)) from None
    manifests = zip(rendered.objects, rendered.origins, strict=True)
    result = RenderResult(tuple(Manifest(obj, where) for obj, where in manifests), "directory")
    # A local folder has no commit: then nothing names the render for a memo.
    commit = rendered.render_key if all(part.key for part in parts) else ""
    return LoadedSource(result, commit, rendered.sources)


def _source_tree(
    source: SourceSpec, url: str, kind: str, auth: GitAuth, ca_file: str | None, insecure: bool
) -> SourceTree:
    from tether.controller.rendering import SourceTree

    if kind != "git":
        fetcher = SourceFetcher(cache_dir() / "sources")
        request = source_request(kind, url, source.chart, source.revision)
        artifact = fetcher.resolve(request, _access_of(auth, ca_file, insecure))
        tree, root = fetcher.tree(artifact)
        return SourceTree(source, tree, render_root(artifact, root, source.path), artifact.display)
    if source.chart:
        raise click.BadParameter("chart= needs type=helm or oci", param_hint="--source")
    if Path(url).is_dir():
        return SourceTree(source, LocalTree(Path(url)), source.path, "")
    if "://" not in url and "@" not in url:
        raise click.ClickException(f"{url}: no such folder, and not a Git URL")
    cache = GitCache(file_urls=FileURLPolicy.any_folder())
    snapshot = asyncio.run(cache.fetch(url, source.revision, auth, insecure=insecure))
    return SourceTree(source, cache.tree(snapshot), source.path, snapshot.commit)


def _render_artifact(
    request: SourceRequest, access: Access, path: str, options: RenderOptions, app_name: str
) -> LoadedSource:
    fetcher = SourceFetcher(cache_dir() / "sources")
    artifact = fetcher.resolve(request, access)
    tree, root = fetcher.tree(artifact)
    where = render_root(artifact, root, path)
    result = render(tree, where, options, app_name=app_name, cache_key=artifact.digest)
    return LoadedSource(result, artifact.display)


def _access(auth_file: str | None, ca_file: str | None, insecure: bool) -> Access:
    """Credentials (--auth-file, TETHER_GIT_* env), CA bundle and insecure for helm/oci."""
    return _access_of(_auth(auth_file, None, None), ca_file, insecure)


def _access_of(auth: GitAuth, ca_file: str | None, insecure: bool) -> Access:
    ca = Path(ca_file).read_text() if ca_file else None
    return Access(Credentials(auth.username, auth.password, auth.bearer_token), ca, insecure)


async def _render_git(
    url: str,
    revision: str,
    auth: GitAuth,
    insecure: bool,
    path: str,
    options: RenderOptions,
    app_name: str,
) -> LoadedSource:
    # The user owns every file the CLI can read, so any local folder is fine; the cache
    # itself stays off limits (FileURLPolicy refuses it for everyone).
    cache = GitCache(file_urls=FileURLPolicy.any_folder())
    snapshot = await cache.fetch(url, revision, auth, insecure=insecure)
    tree = cache.tree(snapshot)
    result = render(tree, path, options, app_name=app_name, cache_key=snapshot.commit)
    return LoadedSource(result, snapshot.commit)


def flag_render_options(params: dict[str, Any], helm_namespace: str = "") -> RenderOptions:
    """The render options SOURCE's flags in ``params`` ask for (one translation)."""
    ext_vars, tlas = jsonnet_from_flags(
        params.get("jsonnet_ext_var") or (),
        params.get("jsonnet_ext_code") or (),
        params.get("jsonnet_tla") or (),
        params.get("jsonnet_tla_code") or (),
    )
    return render_options_from_flags(
        recurse=bool(params.get("recurse")),
        include=params.get("include") or (),
        exclude=params.get("exclude") or (),
        value_files=params.get("value_files") or (),
        set_values=[_split_set(item) for item in params.get("set_values") or ()],
        release_name=params.get("release_name"),
        helm_namespace=helm_namespace,
        jsonnet=JsonnetOptions(
            ext_vars=ext_vars, tlas=tlas, libs=tuple(params.get("jsonnet_lib") or ())
        ),
    )


def flag_auth(params: dict[str, Any]) -> GitAuth:
    """The Git credentials the flags and environment give (never argv values)."""
    return _auth(params.get("auth_file"), params.get("ssh_key"), params.get("known_hosts"))


def _auth(auth_file: str | None, ssh_key: str | None, known_hosts: str | None) -> GitAuth:
    data: dict[str, str | bytes] = {}
    if auth_file:
        data.update(read_auth_file(Path(auth_file)))
    for key, env in AUTH_ENV.items():
        if os.environ.get(env):
            data[key] = os.environ[env]
    if ssh_key:
        data["identity"] = Path(ssh_key).read_bytes()
    hosts = Path(known_hosts) if known_hosts else Path.home() / ".ssh" / "known_hosts"
    if "known_hosts" not in data and hosts.is_file():
        data["known_hosts"] = hosts.read_bytes()
    return GitAuth.from_mapping(data)


def read_auth_file(path: Path) -> dict[str, str | bytes]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        doc = YAML(typ="safe").load(path.read_text())
    except (OSError, YAMLError) as exc:
        raise click.ClickException(f"{path}: cannot read auth file: {type(exc).__name__}") from None
    if not isinstance(doc, dict):
        raise click.ClickException(f"{path}: auth file must be a mapping or a Secret")
    if doc.get("kind") == "Secret":
        out: dict[str, str | bytes] = {
            k: base64.b64decode(v) for k, v in (doc.get("data") or {}).items()
        }
        out.update({k: str(v) for k, v in (doc.get("stringData") or {}).items()})
        return out
    return {str(k): str(v) for k, v in doc.items()}


def _split_set(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"--set {item!r}: expected KEY=VALUE")
    return key, value


def default_app_name(source: str, path: str = "") -> str:
    """The app name ``tether render`` uses without ``--app``: the rendered folder's name.

    That is the last part of ``--path``, else of SOURCE (``.git`` dropped), lower-cased.
    """
    if path.strip("/"):
        base = path.strip("/").rsplit("/", 1)[-1]
    elif Path(source).exists():
        base = Path(source).resolve().name
    else:
        base = source.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return base.removesuffix(".git").lower() or "tether"
