"""``tether run``: start the operator in this process.

Parses the flags into an ``OperatorConfig`` and runs
``tether.controller.main.run_operator`` until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from tether.webhook.server import ReceiverConfig

WEBHOOK_SECRET_ENV = "TETHER_WEBHOOK_SECRET"


@click.command()
@click.option(
    "-n",
    "--namespace",
    "namespaces",
    multiple=True,
    help="Watch this namespace (repeat for several). Default: the whole cluster.",
)
@click.option("-A", "--all-namespaces", is_flag=True, help="Watch the whole cluster.")
@click.option(
    "--metrics-port",
    type=int,
    default=8080,
    show_default=True,
    help="Port of /metrics, /healthz, /readyz.",
)
@click.option(
    "--metrics-host", default="0.0.0.0", show_default=True, help="Address to serve metrics on."
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=32,
    show_default=True,
    help="Applications reconciled at once. A reconcile mostly waits on the API server, "
    "so more workers converge faster (200 apps: 32 took 0.6-0.7x the time of 8) for a "
    "few MiB.",
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Git cache folder. Default: $TETHER_CACHE or ~/.cache/tether.",
)
@click.option(
    "--allow-file-urls",
    "allow_file_urls",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TETHER_ALLOW_FILE_URLS",
    help=(
        "Let file:// Repository and Application URLs (with insecure: true) read Git "
        "repositories under DIR (repeat for several; env: TETHER_ALLOW_FILE_URLS, "
        "separated by ':'). Default: file:// URLs are refused. The Git cache is never "
        "readable this way."
    ),
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    default=None,
    help="Kubeconfig file. Default: $KUBECONFIG, ~/.kube/config, or in-cluster.",
)
@click.option("--context", default=None, help="Kubeconfig context to use.")
@click.option(
    "--leader-election/--no-leader-election",
    "--leader-elect/--no-leader-elect",
    "leader_elect",
    default=False,
    show_default=True,
    help="Hold a Lease so only one replica reconciles.",
)
@click.option(
    "--leader-election-namespace",
    default=None,
    help=(
        "Namespace of the Lease (and of the shard Leases with --shards). Default: "
        "$POD_NAMESPACE or the first --namespace."
    ),
)
@click.option(
    "--leader-election-lease", default="tether-leader", show_default=True, help="Name of the Lease."
)
@click.option(
    "--shards",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help=(
        "Run as one of N replicas that share the Applications by consistent hashing over "
        "the live members, each holding a Lease tether-shard-<id>. 1: one replica reconciles "
        "everything (with --leader-election for a warm standby)."
    ),
)
@click.option(
    "--shard-id",
    default=None,
    help="This replica's name among the shards. Default: $POD_NAME, else <hostname>-<pid>.",
)
@click.option(
    "--shard-lease-duration",
    type=click.IntRange(1, 3600),
    default=15,
    show_default=True,
    help="Seconds a shard Lease stays valid without renewal; a dead shard's apps move after it.",
)
@click.option(
    "--shard-renew-period",
    type=click.FloatRange(0.1, 3600),
    default=5.0,
    show_default=True,
    help="Seconds between shard Lease renewals (and member listings).",
)
@click.option(
    "--webhook-port",
    type=click.IntRange(0, 65535),
    default=None,
    help=(
        "Serve push webhooks (POST /hooks/<provider>) on this port, apart from metrics; "
        "the chart uses 9292. Default: no webhook receiver. The global secret comes from "
        "the environment variable TETHER_WEBHOOK_SECRET, never from a flag."
    ),
)
@click.option(
    "--webhook-host", default="0.0.0.0", show_default=True, help="Address to serve webhooks on."
)
@click.option(
    "--webhook-max-body",
    type=click.IntRange(1024, 64 * 1024 * 1024),
    default=1024 * 1024,
    show_default=True,
    help="Largest webhook body in bytes; larger ones get 413.",
)
@click.option(
    "--webhook-rate-limit",
    type=click.FloatRange(0),
    default=5.0,
    show_default=True,
    help="Webhook requests per second per source address (bursts of 4x); 0: no limit.",
)
@click.option(
    "--webhook-global-rate-limit",
    type=click.FloatRange(0),
    default=50.0,
    show_default=True,
    help="Webhook requests per second from all sources (bursts of 2x); 0: no limit.",
)
def run(
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    metrics_port: int,
    metrics_host: str,
    concurrency: int,
    log_format: str,
    log_level: str,
    cache_dir: Path | None,
    allow_file_urls: tuple[Path, ...],
    kubeconfig: str | None,
    context: str | None,
    leader_elect: bool,
    leader_election_namespace: str | None,
    leader_election_lease: str,
    shards: int,
    shard_id: str | None,
    shard_lease_duration: int,
    shard_renew_period: float,
    webhook_port: int | None,
    webhook_host: str,
    webhook_max_body: int,
    webhook_rate_limit: float,
    webhook_global_rate_limit: float,
) -> None:
    """Start the operator: reconcile Repositories and Applications until stopped."""
    import logging

    from tether.controller.logs import setup_logging
    from tether.controller.main import OperatorConfig, run_operator

    if namespaces and all_namespaces:
        raise click.UsageError("use --namespace or --all-namespaces, not both")
    if shards > 1 and leader_elect:
        raise click.UsageError("use --shards or --leader-election, not both")
    if shard_renew_period >= shard_lease_duration:
        raise click.UsageError("--shard-renew-period must be shorter than --shard-lease-duration")
    setup_logging(log_format, getattr(logging, log_level.upper()))
    lease_ns = (
        leader_election_namespace
        or os.environ.get("POD_NAMESPACE")
        or (namespaces[0] if namespaces else "default")
    )
    cfg = OperatorConfig(
        namespaces=tuple(namespaces),
        clusterwide=not namespaces,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        concurrency=concurrency,
        cache_dir=cache_dir,
        allow_file_urls=tuple(allow_file_urls),
        kubeconfig=kubeconfig,
        context=context,
        leader_elect=leader_elect,
        leader_namespace=lease_ns,
        lease_name=leader_election_lease,
        shards=shards,
        shard_lease_seconds=shard_lease_duration,
        shard_renew_seconds=shard_renew_period,
        **_shard_identity(shards, shard_id),
        webhook=_webhook_config(
            webhook_port,
            webhook_host,
            webhook_max_body,
            webhook_rate_limit,
            webhook_global_rate_limit,
        ),
    )
    from tether.kube.kubeconfig import KubeconfigError

    try:
        code = asyncio.run(run_operator(cfg))
    except KubeconfigError as exc:  # bad credentials: one line and exit 1, no traceback
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


def _shard_identity(shards: int | None, shard_id: str | None) -> dict[str, str]:
    """A shard's stable name (its Lease is ``tether-shard-<id>``): --shard-id or the pod's.

    Only for shards: a leader keeps the per-process default (host and pid), so a
    restarted container is a new candidate, never mistaken for the holder that died.
    """
    if not shards or shards < 2:
        return {}
    identity = shard_id or os.environ.get("POD_NAME")
    return {"identity": identity} if identity else {}


def _webhook_config(
    port: int | None, host: str, max_body: int, per_source: float, overall: float
) -> ReceiverConfig | None:
    """The receiver's settings, or None when no port was given."""
    from tether.controller.redact import REDACTOR
    from tether.webhook.ratelimit import Rate
    from tether.webhook.server import ReceiverConfig

    if port is None:
        return None
    secret = os.environ.get(WEBHOOK_SECRET_ENV, "").strip().encode()
    REDACTOR.add(secret)
    return ReceiverConfig(
        host=host,
        port=port,
        max_body=max_body,
        per_source=Rate(per_source, max(1, int(per_source * 4))),
        overall=Rate(overall, max(1, int(overall * 2))),
        global_secret=secret,
    )
