"""``tether cluster up|down|env``: the local control plane as a shell command.

Stdout carries only the ``export KUBECONFIG=...`` line so that
``eval "$(tether cluster up)"`` works; everything else goes to stderr.
The cluster itself lives in :mod:`tether.localcluster`.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from tether.localcluster import (
    ClusterNotRunningError,
    LocalCluster,
    LocalClusterError,
    default_run_dir,
    stop_run_dir,
)

_DIR_HELP = (
    "Run folder holding certificates, etcd data, logs, PIDs and the kubeconfig. "
    "Default: $TETHER_CACHE/cluster, i.e. ~/.cache/tether/cluster."
)


def _run_dir(value: Path | None) -> Path:
    return (value or default_run_dir()).expanduser().resolve()


def _export_line(kubeconfig: Path) -> str:
    return f"export KUBECONFIG={shlex.quote(str(kubeconfig))}"


dir_option = click.option(
    "--dir", "run_dir", type=click.Path(file_okay=False, path_type=Path), help=_DIR_HELP
)


@click.group()
def cluster() -> None:
    """A local Kubernetes control plane (etcd, kube-apiserver, controller manager,
    scheduler, kwok fake nodes) on 127.0.0.1, built by e2e/build-tools.sh.

    Typical use: eval "$(tether cluster up)"; ...; tether cluster down
    """


@cluster.command()
@dir_option
@click.option(
    "--nodes", default=1, show_default=True, type=click.IntRange(1, 3), help="Fake nodes."
)
@click.option(
    "--real-node",
    is_flag=True,
    help="Also run a real node (kubelet, containerd, runc, CNI bridge) tainted "
    "tether.dev/real-node=true:NoSchedule. Needs root; one per machine.",
)
@click.option("--timeout", default=90.0, show_default=True, help="Seconds to wait for readiness.")
def up(run_dir: Path | None, nodes: int, real_node: bool, timeout: float) -> None:
    """Start the cluster (or reuse the one running in --dir) and print the export line."""
    folder = _run_dir(run_dir)
    try:
        running = LocalCluster.attach(folder)
        click.echo(f"cluster already running in {folder} ({running.server})", err=True)
    except ClusterNotRunningError:
        try:
            running = LocalCluster.start(folder, nodes=nodes, real_node=real_node, timeout=timeout)
        except LocalClusterError as exc:
            raise click.ClickException(f"{exc}\nlogs: {folder / 'logs'}") from exc
        extra = " and a real node" if real_node else ""
        click.echo(
            f"cluster ready in {running.state.startup_seconds:.1f}s at {running.server} "
            f"({nodes} kwok node(s){extra}); logs in {folder / 'logs'}",
            err=True,
        )
    click.echo(_export_line(running.kubeconfig))


@cluster.command()
@dir_option
def down(run_dir: Path | None) -> None:
    """Stop every process of the cluster in --dir; leaves the folder for inspection."""
    folder = _run_dir(run_dir)
    stopped = stop_run_dir(folder)
    if stopped:
        click.echo(f"stopped {', '.join(stopped)} in {folder}", err=True)
    else:
        click.echo(f"no running cluster in {folder}", err=True)


@cluster.command("load-image")
@dir_option
@click.argument("archive", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def load_image(run_dir: Path | None, archive: Path) -> None:
    """Import an image archive (OCI or Docker, e.g. from `make image`) into the real node."""
    folder = _run_dir(run_dir)
    try:
        output = LocalCluster.attach(folder).load_image(archive)
    except LocalClusterError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(output, err=True)


@cluster.command()
@dir_option
def env(run_dir: Path | None) -> None:
    """Print the export line for the cluster running in --dir."""
    folder = _run_dir(run_dir)
    try:
        running = LocalCluster.attach(folder)
    except ClusterNotRunningError as exc:
        raise click.ClickException(f"{exc}; start it with `tether cluster up`") from exc
    click.echo(_export_line(running.kubeconfig))
