"""``tether app sync|refresh NS/NAME``: ask the running operator to act on an Application.

Both set an annotation to a new unique value (``tether.dev/sync`` or
``tether.dev/refresh``). With ``--wait`` the command polls the Application's
status until the operator reports on that very value: for a sync,
``status.lastHandledSync`` equals it and ``operationState`` has finished; for a
refresh, ``status.lastHandledRefresh`` equals it. Exit 0 on success, 1 on a
failed sync, a timeout or an error.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Any

import click

from tether.constants import REFRESH_ANNOTATION, SYNC_ANNOTATION

TERMINAL = ("Succeeded", "Failed", "Error")


def parse_target(text: str) -> tuple[str, str]:
    namespace, sep, name = text.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise click.BadParameter(f"{text!r}: expected NAMESPACE/NAME", param_hint="APP")
    return namespace, name


def request_value() -> str:
    """A new annotation value: the time (readable) plus a random suffix (unique)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def sync_result(status: dict[str, Any], value: str) -> str | None:
    """The phase of the sync started by ``value``, or None while it has not finished."""
    if status.get("lastHandledSync") != value:
        return None
    op = status.get("operationState") or {}
    phase = op.get("phase")
    return str(phase) if phase in TERMINAL else None


def refresh_done(status: dict[str, Any], value: str) -> bool:
    return status.get("lastHandledRefresh") == value


async def _request(
    target: tuple[str, str],
    annotation: str,
    *,
    wait: bool,
    timeout: float,
    kubeconfig: str | None,
    context: str | None,
) -> int:
    from tether.controller.kubeio import APPLICATIONS
    from tether.kube.client import KubeClient
    from tether.kube.errors import KubeError

    namespace, name = target
    value = request_value()
    client = await KubeClient.connect(kubeconfig, context)
    try:
        try:
            await client.patch(
                APPLICATIONS,
                name,
                {"metadata": {"annotations": {annotation: value}}},
                namespace=namespace,
            )
        except KubeError as exc:
            click.echo(f"error: {exc}", err=True)
            return 1
        click.echo(f"application {namespace}/{name}: {annotation}={value}")
        if not wait:
            return 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                body = await client.get(APPLICATIONS, name, namespace)
            except KubeError as exc:
                click.echo(f"error: {exc}", err=True)
                return 1
            status = body.get("status") or {}
            if annotation == SYNC_ANNOTATION:
                phase = sync_result(status, value)
                if phase is not None:
                    message = (status.get("operationState") or {}).get("message") or ""
                    click.echo(f"sync {phase}: {message}".rstrip(": "))
                    return 0 if phase == "Succeeded" else 1
            elif refresh_done(status, value):
                sync = (status.get("sync") or {}).get("status", "Unknown")
                health = (status.get("health") or {}).get("status", "Unknown")
                click.echo(f"refreshed: {sync} {health} {status.get('message') or ''}".rstrip())
                return 0
            await asyncio.sleep(0.5)
        click.echo(f"timed out after {timeout:g}s waiting for the operator", err=True)
        return 1
    finally:
        await client.close()


_kube_options = [
    click.option(
        "--kubeconfig", type=click.Path(dir_okay=False), default=None, help="Kubeconfig file."
    ),
    click.option("--context", default=None, help="Kubeconfig context."),
]


def _with_kube(fn: Any) -> Any:
    for option in reversed(_kube_options):
        fn = option(fn)
    return fn


@click.group()
def app() -> None:
    """Ask the operator to sync or refresh an Application."""


@app.command("sync")
@click.argument("target", metavar="NAMESPACE/NAME")
@click.option("--wait", is_flag=True, help="Wait for the result; exit 1 if the sync fails.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait.")
@_with_kube
def sync_cmd(
    target: str, wait: bool, timeout: float, kubeconfig: str | None, context: str | None
) -> None:
    """Sync NAMESPACE/NAME now (sets tether.dev/sync)."""
    code = asyncio.run(
        _request(
            parse_target(target),
            SYNC_ANNOTATION,
            wait=wait,
            timeout=timeout,
            kubeconfig=kubeconfig,
            context=context,
        )
    )
    sys.exit(code)


@app.command("refresh")
@click.argument("target", metavar="NAMESPACE/NAME")
@click.option("--wait", is_flag=True, help="Wait until the operator has compared again.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait.")
@_with_kube
def refresh_cmd(
    target: str, wait: bool, timeout: float, kubeconfig: str | None, context: str | None
) -> None:
    """Re-read Git and compare NAMESPACE/NAME now (sets tether.dev/refresh)."""
    code = asyncio.run(
        _request(
            parse_target(target),
            REFRESH_ANNOTATION,
            wait=wait,
            timeout=timeout,
            kubeconfig=kubeconfig,
            context=context,
        )
    )
    sys.exit(code)
