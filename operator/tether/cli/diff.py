"""``tether diff``: show how a live cluster differs from a rendered source.

Prints a masked unified diff per out-of-sync object, then the objects that
would be created and those that would be pruned (found by the app's tracking
label). Exit codes: 0 in sync, 1 drift, 2 error.

Also holds the options and source loading shared with ``tether sync``
(``cluster_options``, ``load_objects``): the lead's ``tether.cli.source`` is
used when present, otherwise a plain local folder of YAML/JSON is read.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
EXIT_IN_SYNC, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2


def _shared_source() -> tuple[Any, Any] | None:
    try:
        from tether.cli.source import load_source, source_options
    except ImportError:
        return None
    return source_options, load_source


def source_and_cluster_options(func: F) -> F:
    """SOURCE plus source flags (shared helper when present), app and cluster flags."""
    shared = _shared_source()
    if shared is not None:
        func = shared[0](func)
    else:
        func = click.argument("source")(func)
        func = click.option("--path", default="", help="Folder inside SOURCE.")(func)
    for decorator in (
        click.option("--app", required=True, help="Application name (tracking label)."),
        click.option("--namespace", "-n", default="default", help="Destination and app namespace."),
        click.option("--kubeconfig", default=None, help="Kubeconfig file."),
        click.option("--context", default=None, help="Kubeconfig context."),
        click.option("--service-account", default=None, help="Impersonate this SA."),
    ):
        func = decorator(func)
    return func


def load_objects(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Render SOURCE into objects, via ``tether.cli.source.load_source`` when it exists."""
    shared = _shared_source()
    if shared is not None:
        result = shared[1](**{k: v for k, v in params.items() if k not in _OWN_PARAMS})
        objects = getattr(result, "objects", result)
        return [dict(o) for o in objects]
    return _read_folder(Path(params["source"]) / (params.get("path") or ""))


_OWN_PARAMS = frozenset(
    {
        "app",
        "namespace",
        "kubeconfig",
        "context",
        "service_account",
        "prune",
        "dry_run",
        "server_side",
        "timeout",
        "state_file",
        "concurrency",
    }
)


def _read_folder(root: Path) -> list[dict[str, Any]]:
    from ruamel.yaml import YAML

    if not root.is_dir():
        raise click.ClickException(f"{root}: not a folder")
    yaml = YAML(typ="safe")
    yaml.version = (1, 1)
    out: list[dict[str, Any]] = []
    for file in sorted(root.rglob("*")):
        if file.suffix not in (".yaml", ".yml", ".json") or not file.is_file():
            continue
        try:
            docs = list(yaml.load_all(file.read_text()))
        except Exception as exc:
            raise click.ClickException(f"{file}: cannot parse: {exc}") from exc
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise click.ClickException(f"{file}: a document is not a mapping")
            if str(doc.get("kind", "")).endswith("List") and "items" in doc:
                out.extend(doc["items"] or ())
            else:
                out.append(doc)
    return out


def app_spec(params: dict[str, Any], **extra: Any) -> Any:
    from tether.engine import AppSpec

    return AppSpec(
        name=params["app"],
        namespace=params["namespace"],
        destination_namespace=params["namespace"],
        service_account=params.get("service_account"),
        **extra,
    )


@click.command()
@source_and_cluster_options
def diff(**params: Any) -> None:
    """Show drift between SOURCE and the live cluster (exit 1 on drift, 2 on error)."""
    try:
        objects = load_objects(params)
    except click.ClickException as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(asyncio.run(_diff(params, objects)))


async def _diff(params: dict[str, Any], objects: list[dict[str, Any]]) -> int:
    from tether.engine import Engine
    from tether.kube.errors import KubeError

    try:
        engine = await Engine.connect(params.get("kubeconfig"), params.get("context"))
    except KubeError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    try:
        report = await engine.diff(app_spec(params), objects)
    except (TimeoutError, KubeError) as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    finally:
        await engine.close()
    return print_report(report)


def print_report(report: Any) -> int:
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    for entry in report.by_status("out-of-sync"):
        click.echo(entry.diff, nl=False)
    for status, title in (
        ("missing", "to create"),
        ("prune", "would be pruned"),
        ("conflict", "refused"),
    ):
        entries = report.by_status(status)
        if entries:
            click.echo(f"{title}:")
            for entry in entries:
                note = f" ({entry.message})" if status == "conflict" else ""
                click.echo(f"  {_name(entry.key)}{note}")
    if report.errors:
        return EXIT_ERROR
    drifted = len(report.entries) - len(report.by_status("in-sync"))
    click.echo(
        json.dumps({"inSync": len(report.by_status("in-sync")), "drifted": drifted}), err=True
    )
    return EXIT_IN_SYNC if report.in_sync else EXIT_DRIFT


def _name(key: Any) -> str:
    where = f"{key.namespace}/{key.name}" if key.namespace else key.name
    return f"{key.kind} {where}"
