"""The ``tether`` command line: the engine without the operator, plus ``run``.

Subcommands load lazily, so ``tether render`` does not pay for importing kopf or
the Kubernetes client. Each subcommand lives in its own module of this package.
"""

from __future__ import annotations

import importlib

import click

from tether import __version__

_COMMANDS: dict[str, tuple[str, str]] = {
    "render": ("tether.cli.render", "render"),
    "diff": ("tether.cli.diff", "diff"),
    "sync": ("tether.cli.sync", "sync"),
    "app": ("tether.cli.app", "app"),
    "project": ("tether.cli.project", "project"),
    "run": ("tether.cli.run", "run"),
    "crds": ("tether.cli.crds", "crds"),
    "cluster": ("tether.cli.cluster", "cluster"),
    "version": ("tether.cli", "version"),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module = importlib.import_module(target[0])
        command = getattr(module, target[1])
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tether")
def main() -> None:
    """Tether keeps a Kubernetes cluster equal to what Git says it should be.

    \b
    render   print the manifests a source produces
    diff     show drift against a live cluster (exit 1 on drift)
    sync     sync a source into a cluster once
    app      ask the operator to sync or refresh an Application
    project  explain what a Project refuses an Application
    run      start the operator
    crds     print the CustomResourceDefinitions
    cluster  start or stop a local control plane for tests and demos
    """


@click.command()
def version() -> None:
    """Print the Tether version."""
    click.echo(__version__)
