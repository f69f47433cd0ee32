"""``tether push artifact DIR oci://host/repo:tag``: publish a folder as an OCI artifact.

The artifact has Flux's ``flux push artifact`` layout (one tar+gzip content
layer, a Flux config), so a ``type: oci`` Repository, ``tether render
oci://...`` and Flux itself all read it. Credentials never come from argv:
``--username`` with the password on stdin (``--password-stdin``), or the
environment (TETHER_REGISTRY_USERNAME / TETHER_REGISTRY_PASSWORD /
TETHER_REGISTRY_TOKEN), or ``--auth-file`` (a mapping or Secret with
username/password or bearerToken). A registry token challenge is answered with
them. Prints ``<tag>@sha256:<manifest digest>``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from tether.cli.messages import cli_message
from tether.sources import Access, Credentials, SourceError


@click.group()
def push() -> None:
    """Publish sources to a registry."""


@push.command("artifact")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.argument("url")
@click.option("--username", default=None, help="Registry user (or TETHER_REGISTRY_USERNAME).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password (or token) from standard input."
)
@click.option(
    "--auth-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="YAML mapping or Secret manifest with username/password or bearerToken.",
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="PEM CA bundle trusted for the registry.",
)
@click.option("--insecure", is_flag=True, help="Talk plain HTTP to the registry.")
@click.option("--source", "source_url", default="", help="Recorded as the artifact's source.")
def artifact(
    folder: str,
    url: str,
    username: str | None,
    password_stdin: bool,
    auth_file: str | None,
    ca_file: str | None,
    insecure: bool,
    source_url: str,
) -> None:
    """Push FOLDER's files to URL (oci://host/repo:tag) as a plain-manifests artifact."""
    from tether.cli.source import read_auth_file
    from tether.sources.artifact import push_artifact
    from tether.sources.fetch import SourceFetcher
    from tether.tools import cache_dir

    data: dict[str, str | bytes] = dict(read_auth_file(Path(auth_file))) if auth_file else {}
    for key, env in (
        ("username", "TETHER_REGISTRY_USERNAME"),
        ("password", "TETHER_REGISTRY_PASSWORD"),
        ("bearerToken", "TETHER_REGISTRY_TOKEN"),
    ):
        if os.environ.get(env):
            data[key] = os.environ[env]
    if username:
        data["username"] = username
    if password_stdin:
        data["password"] = sys.stdin.readline().rstrip("\r\n")
    credentials = Credentials(
        _text(data.get("username")), _text(data.get("password")), _text(data.get("bearerToken"))
    )
    ca = Path(ca_file).read_text() if ca_file else None
    access = Access(credentials, ca, insecure)
    try:
        pushed = push_artifact(
            SourceFetcher(cache_dir() / "sources"), Path(folder), url, access, source=source_url
        )
    except SourceError as exc:
        raise click.ClickException(cli_message(exc)) from None
    click.echo(pushed)


def _text(value: str | bytes | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value
