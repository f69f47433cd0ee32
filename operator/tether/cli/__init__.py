"""The ``tether`` command line: the engine without the operator, plus ``run``.

Subcommands load lazily, so ``tether render`` does not pay for importing kopf or
the Kubernetes client. Each subcommand lives in its own module of this package.

Whatever goes wrong, the user gets one line on stderr, never a traceback: usage
errors exit 2, other ``ClickException``s their own code, an interrupt 130, and
an unexpected exception (a bug) ``EXIT_INTERNAL`` with its type and message
(``TETHER_DEBUG=1`` shows the traceback instead).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from tether import __version__

_COMMANDS: dict[str, tuple[str, str]] = {
    "render": ("tether.cli.render", "render"),
    "diff": ("tether.cli.diff", "diff"),
    "sync": ("tether.cli.sync", "sync"),
    "app": ("tether.cli.app", "app"),
    "project": ("tether.cli.project", "project"),
    "capture": ("tether.cli.capture", "capture"),
    "run": ("tether.cli.run", "run"),
    "crds": ("tether.cli.crds", "crds"),
    "push": ("tether.cli.push", "push"),
    "cluster": ("tether.cli.cluster", "cluster"),
    "version": ("tether.cli", "version"),
}


EXIT_INTERNAL = 3


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used, and whose errors are one line."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        prog_name = prog_name or "tether"  # not "-c" or "__main__.py" when run by python
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            sys.exit(_fail(_usage_line(exc), exc.exit_code))
        except (click.Abort, KeyboardInterrupt):
            sys.exit(_fail("interrupted", 130))
        except Exception as exc:
            if os.environ.get("TETHER_DEBUG"):
                raise
            sys.exit(_fail(f"internal error: {type(exc).__name__}: {exc}", EXIT_INTERNAL))
        sys.exit(code if isinstance(code, int) else 0)

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
    capture  write live changes and new objects back to the source (Git)
    run      start the operator
    crds     print the CustomResourceDefinitions
    cluster  start or stop a local control plane for tests and demos
    """


def _usage_line(exc: click.ClickException) -> str:
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message


def _fail(message: str, code: int) -> int:
    from tether.cli.messages import one_line

    click.echo(f"error: {one_line(message)}", err=True)
    return code


@click.command()
def version() -> None:
    """Print the Tether version."""
    click.echo(__version__)
