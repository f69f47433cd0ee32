"""``tether sync``: sync a rendered source into a cluster once, in plan order.

Prints progress per step and per object (created, configured, unchanged,
pruned, failed, skipped). ``--dry-run`` goes through the server's dry-run;
``--state-file FILE`` persists the operation state after every step and resumes
from it when the file holds an unfinished state for the same plan. With
``--project FILE`` everything the sync would do is checked against that Project
first, as the operator does, and nothing is written when it refuses anything.
Exit codes: 0 success, 1 the sync failed, 2 the input is wrong (render, duplicate or
invalid objects, bad annotations, flags) or the cluster cannot be reached, 3 not
permitted by the Project.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from tether.appspec import AppSpec
from tether.cli.diff import (
    EXIT_ERROR,
    EXIT_NOT_PERMITTED,
    Loaded,
    flag_spec,
    load_objects,
    refused,
    source_and_cluster_options,
)
from tether.cli.messages import INPUT_ERRORS, cli_message, sync_summary


def parse_timeout(text: str) -> float:
    """``90``, ``90s``, ``5m``, ``1h30m`` -> seconds (``tether.api.types.parse_duration``,
    plus bare numbers as seconds)."""
    from tether.api.types import parse_duration

    text = text.strip()
    try:
        return parse_duration(f"{text}s" if text.replace(".", "", 1).isdigit() else text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeout") from None


@click.command()
@source_and_cluster_options
@click.option("--prune", is_flag=True, help="Delete tracked objects no longer in SOURCE.")
@click.option("--dry-run", is_flag=True, help="Send every write as a server-side dry run.")
@click.option("--server-side", is_flag=True, help="Use server-side apply for every object.")
@click.option("--timeout", default="5m", help="Health-gate timeout per step (e.g. 90s, 5m).")
@click.option("--concurrency", default=8, show_default=True, help="Objects applied at once.")
@click.option(
    "--state-file",
    "--state",
    "state_file",
    default=None,
    help="Persist the operation state here after each step; resume from it.",
)
def sync(**params: Any) -> None:
    """Sync SOURCE into the cluster once (exit 0 on success, 1 on failure, 2 on bad input,
    3 not permitted by --project)."""
    try:
        timeout = parse_timeout(params["timeout"])
        rendered = load_objects(params)
        app = flag_spec(params, health_timeout=timeout, concurrency=params["concurrency"])
        saved = _load_state(Path(params["state_file"]) if params.get("state_file") else None)
    except click.ClickException as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(asyncio.run(_sync(params, app, rendered, saved)))


async def _sync(params: dict[str, Any], app: AppSpec, rendered: Loaded, saved: Any) -> int:
    from tether.engine import Engine
    from tether.kube.errors import KubeError
    from tether.sync.state import OperationPhase, SyncOperation

    state_path = Path(params["state_file"]) if params.get("state_file") else None

    def persist(state: SyncOperation) -> None:
        if state_path is not None:
            tmp = state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state.to_dict()))
            tmp.replace(state_path)

    try:
        engine = await Engine.connect(params.get("kubeconfig"), params.get("context"))
    except KubeError as exc:
        click.echo(f"error: {cli_message(exc)}", err=True)
        return EXIT_ERROR
    try:
        if await _invalid(engine, app, rendered):
            return EXIT_ERROR
        if await refused(engine, app, rendered, prune=params["prune"]):
            return EXIT_NOT_PERMITTED
        state = await engine.sync(
            app,
            rendered.objects,
            revision=rendered.commit,
            state=saved,
            persist=persist,
            dry_run=params["dry_run"],
            prune=params["prune"],
            server_side=params["server_side"],
            progress=_print_progress,
            sources=rendered.sources,
        )
    except INPUT_ERRORS as exc:
        click.echo(f"error: {cli_message(exc)}", err=True)
        return EXIT_ERROR
    except (TimeoutError, KubeError) as exc:
        click.echo(f"error: {cli_message(exc)}", err=True)
        return 1
    finally:
        await engine.close()
    click.echo(sync_summary(state.phase is OperationPhase.SUCCEEDED, state.changes.counts()))
    if state.phase is not OperationPhase.SUCCEEDED:
        click.echo(f"error: {state.message}", err=True)
        return 1
    return 0


async def _invalid(engine: Any, app: AppSpec, rendered: Loaded) -> bool:
    """Print the objects the engine would refuse as bad input (True when any).

    Some are only found once keyed against the cluster (a duplicate after namespace
    defaulting, a bad hook annotation); they are bad input, so exit 2, as in ``diff``. A
    kind the cluster lacks is the cluster's state, not bad input: the sync fails (exit 1).
    """
    from tether.identity import UnknownKindError

    _, errors, _ = await engine.desired.keyed(app, rendered.objects, rendered.sources)
    bad = [message for message, exc in errors if not isinstance(exc, UnknownKindError)]
    for message in bad:
        click.echo(f"error: {message}", err=True)
    return bool(bad)


def _load_state(path: Path | None) -> Any:
    from tether.sync.state import SyncOperation

    if path is None or not path.exists():
        return None
    try:
        return SyncOperation.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError) as exc:
        raise click.ClickException(f"{path}: not a saved operation state: {exc}") from exc


def _print_progress(event: Any) -> None:
    from tether.sync.executor import ProgressKind

    if event.kind is ProgressKind.STEP:
        click.echo(f"step {event.step + 1} {event.label}: {event.message}")
    elif event.kind is ProgressKind.CHANGE and event.change is not None:
        click.echo(f"  {event.change}")
    elif event.kind is ProgressKind.GATE and event.message:
        click.echo(f"  {event.message}")
