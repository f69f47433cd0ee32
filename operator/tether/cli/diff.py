"""``tether diff``: show how a live cluster differs from a rendered source.

Prints a masked unified diff per out-of-sync object, then the objects that
would be created and those that would be pruned (found by the app's tracking
label). A non-empty local patch is confirmed with one server-side dry-run, so
normalization noise never shows as drift. With ``--project FILE`` the render
and the plan are first checked against that Project, offline, as the operator
would: every refusal is printed. Exit codes: 0 in sync, 1 drift, 2 error,
3 not permitted by the Project.

Also holds what ``tether sync`` shares with it: the app and cluster flags
(``source_and_cluster_options``), rendering (``load_objects``) and the
``AppSpec`` built from the flags. SOURCE and its flags come from
``tether.cli.source``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import click

from tether.appspec import AppSpec, spec_from_flags
from tether.cli.messages import INPUT_ERRORS, cli_message
from tether.cli.source import flag_render_options, load_source_at, multi_source_options
from tether.engine.model import DiffReport, Standing
from tether.objects import label
from tether.tenancy import ProjectPolicy

F = TypeVar("F", bound=Callable[..., Any])
EXIT_IN_SYNC, EXIT_DRIFT, EXIT_ERROR, EXIT_NOT_PERMITTED = 0, 1, 2, 3


def source_and_cluster_options(func: F) -> F:
    """SOURCE (or repeated --source) plus source flags, then the app and cluster flags."""
    func = multi_source_options(func)
    for decorator in (
        click.option("--app", required=True, help="Application name (tracking label)."),
        click.option("--namespace", "-n", default="default", help="Destination and app namespace."),
        click.option("--kubeconfig", default=None, help="Kubeconfig file."),
        click.option("--context", default=None, help="Kubeconfig context."),
        click.option(
            "--service-account",
            default=None,
            help="Impersonate this ServiceAccount of the app's namespace.",
        ),
        click.option(
            "--project",
            "project_file",
            default=None,
            type=click.Path(exists=True, dir_okay=False),
            help="Check everything against this Project (a YAML file) first, as the "
            "operator does; exit 3 when it refuses something.",
        ),
        click.option(
            "--sync-option",
            "sync_options",
            multiple=True,
            metavar="OPT",
            callback=lambda _ctx, _param, value: _checked_sync_options(value),
            help="App-wide sync option, e.g. CreateNamespace=true, ServerSideApply=true, "
            "PruneLast=true (repeatable).",
        ),
    ):
        func = decorator(func)
    return func


@dataclass(frozen=True)
class Loaded:
    """What SOURCE rendered to, where each object came from, and the render's identity."""

    objects: list[dict[str, Any]]
    commit: str
    render_id: str
    sources: tuple[str, ...] = ()  # each object's file, parallel to objects


def load_objects(params: dict[str, Any]) -> Loaded:
    """Render SOURCE (raises click.ClickException with one clear line)."""
    loaded = load_source_at(
        **params, app_name=params["app"], helm_namespace=params.get("namespace") or ""
    )
    render_id = ""
    if loaded.commit:
        options = json.dumps(
            {k: v for k, v in sorted(params.items()) if k not in _CLUSTER_PARAMS}, default=str
        )
        render_id = f"{loaded.commit}:{hashlib.sha256(options.encode()).hexdigest()[:16]}"
    return Loaded(
        [dict(o) for o in loaded.result.objects],
        loaded.commit,
        render_id,
        loaded.places or tuple(map(str, loaded.result.sources)),
    )


_CLUSTER_PARAMS = frozenset(
    {"kubeconfig", "context", "auth_file", "ssh_key", "known_hosts", "sync_options", "project_file"}
)


def flag_spec(params: dict[str, Any], **knobs: Any) -> AppSpec:
    """The ``AppSpec`` of the command's flags (through ``tether.appspec.spec_from_flags``)."""
    return replace(
        spec_from_flags(
            app=params["app"],
            namespace=params["namespace"],
            service_account=params.get("service_account"),
            sync_options=tuple(params.get("sync_options") or ()),
            revision=params.get("revision") or "HEAD",
            path=params.get("path") or "",
            insecure=bool(params.get("insecure")),
            render=flag_render_options(params, helm_namespace=params["namespace"]),
            **knobs,
        ),
        project=load_project(params.get("project_file")),
    )


def load_project(path: str | None) -> ProjectPolicy | None:
    """The policy of the Project in ``path`` (None without one); one-line errors."""
    if not path:
        return None
    from pathlib import Path

    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from tether.api import InvalidObjectError, parse_project
    from tether.tenancy import policy_of

    try:
        docs = [d for d in YAML(typ="safe").load_all(Path(path).read_text()) if d]
    except (OSError, YAMLError) as exc:
        raise click.ClickException(f"{path}: cannot read the Project: {exc}") from None
    if len(docs) != 1 or not isinstance(docs[0], dict) or docs[0].get("kind") != "Project":
        raise click.ClickException(f"{path}: expected exactly one Project object")
    try:
        return policy_of(parse_project(docs[0]))
    except InvalidObjectError as exc:
        raise click.ClickException(f"{path}: {exc}") from None


async def refused(
    engine: Any, app: AppSpec, rendered: Loaded, *, prune: bool | None = None
) -> bool:
    """Print every refusal of ``app``'s Project (if any); True when something is refused."""
    verdict = await engine.permitted(app, rendered.objects, rendered.sources, prune=prune)
    if verdict is None or verdict.allowed:
        return False
    for message in verdict.messages():
        click.echo(f"not permitted: {message}", err=True)
    return True


def _checked_sync_options(items: tuple[str, ...]) -> tuple[str, ...]:
    from tether.plan import PlanError, parse_option_strings

    try:
        parse_option_strings(items, "--sync-option", "command line")
    except PlanError as exc:
        raise click.BadParameter(str(exc), param_hint="--sync-option") from None
    return tuple(items)


@click.command()
@source_and_cluster_options
def diff(**params: Any) -> None:
    """Show drift between SOURCE and the live cluster (exit 1 on drift, 2 on error)."""
    try:
        rendered = load_objects(params)
        app = flag_spec(params)
    except click.ClickException as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(asyncio.run(_diff(params, app, rendered)))


async def _diff(params: dict[str, Any], app: AppSpec, rendered: Loaded) -> int:
    from tether.engine import Engine
    from tether.kube.errors import KubeError

    try:
        engine = await Engine.connect(params.get("kubeconfig"), params.get("context"))
    except KubeError as exc:
        click.echo(f"error: {cli_message(exc)}", err=True)
        return EXIT_ERROR
    try:
        if await refused(engine, app, rendered):
            return EXIT_NOT_PERMITTED
        report = await engine.diff(
            app, rendered.objects, revision=rendered.render_id, sources=rendered.sources
        )
    except INPUT_ERRORS as exc:
        click.echo(f"error: {cli_message(exc)}", err=True)
        return EXIT_ERROR
    except (TimeoutError, KubeError) as exc:
        click.echo(f"error: {cli_message(exc)}", err=True)
        return EXIT_ERROR
    finally:
        await engine.close()
    return print_report(report)


def print_report(report: DiffReport) -> int:
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    for entry in report.by_status(Standing.ERROR):
        click.echo(f"error: {label(entry.key)}: {entry.message}", err=True)
    for entry in report.by_status(Standing.OUT_OF_SYNC):
        click.echo(entry.diff, nl=False)
        if entry.message:
            click.echo(f"# {label(entry.key)}: {entry.message}")
    for status, title in (
        (Standing.MISSING, "to create"),
        (Standing.PRUNE, "would be pruned"),
        (Standing.CONFLICT, "refused"),
    ):
        entries = report.by_status(status)
        if entries:
            click.echo(f"{title}:")
            for entry in entries:
                note = f" ({entry.message})" if status is Standing.CONFLICT else ""
                click.echo(f"  {label(entry.key)}{note}")
    if report.errors or report.by_status(Standing.ERROR):
        return EXIT_ERROR
    in_sync = len(report.by_status(Standing.IN_SYNC))
    click.echo(f"{in_sync} in sync, {len(report.entries) - in_sync} drifted", err=True)
    return EXIT_IN_SYNC if report.in_sync else EXIT_DRIFT
