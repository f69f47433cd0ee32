"""``tether render``: print the manifests a source produces, in a stable order."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import click

from tether.cli.source import load_source, multi_source_options


@click.command()
@multi_source_options
@click.option(
    "--namespace", "helm_namespace", default="", help="Namespace passed to helm template."
)
@click.option(
    "--app",
    "app_name",
    default=None,
    help="App name, the Helm release name unless --release-name is given (as in Argo CD). "
    "Default: the rendered folder's name (last part of --path, else of SOURCE).",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="A YAML stream, or one JSON List.",
)
def render(output: str, **params: Any) -> None:
    """Print the manifests SOURCE renders to.

    SOURCE is a local folder or a Git URL (https://, ssh://, git@host:org/repo.git;
    http://, git:// and file:// need --insecure). Plain folders, Kustomize
    (kustomization.yaml) and Helm charts (Chart.yaml) are detected. Git credentials
    come from --auth-file, --ssh-key/--known-hosts, or the environment variables
    TETHER_GIT_USERNAME, TETHER_GIT_PASSWORD, TETHER_GIT_BEARER_TOKEN and
    TETHER_GIT_SSH_PASSPHRASE.

    SOURCE may also be a Helm repository (--repo-type helm --chart NAME, --revision a
    version or range) or an OCI registry path (oci://host/path; --chart for a chart
    under it, else a plain-manifests artifact; --revision a tag, range or digest),
    with the same credentials (--auth-file or TETHER_GIT_USERNAME/PASSWORD/
    BEARER_TOKEN) and --ca-file for a private CA.

    Instead of SOURCE, --source may be repeated to render several sources into one
    app, as spec.sources does (see --source below), e.g. a chart from a Helm
    repository with its values file from Git.
    """
    result = load_source(**params)
    objects = list(result.objects)
    if not objects:
        # Exit 0 (an empty source is valid), but never silently: a folder of files
        # Tether does not read would otherwise look like a success.
        shown = params["source"] or "the sources"
        click.echo(f"warning: {shown} rendered no objects", err=True)
    if output == "json":
        click.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2))
    else:
        click.echo(dump_yaml_stream(objects), nl=False)


def dump_yaml_stream(objects: Sequence[Any]) -> str:
    """A ``---``-separated YAML stream that kubectl (YAML 1.1) reads back unchanged."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    # With 1.1 the emitter quotes strings such as "yes" or "0644" that 1.1 readers
    # would otherwise turn into booleans or numbers; the directive line is dropped.
    yaml.version = (1, 1)
    parts = []
    for obj in objects:
        buffer = io.StringIO()
        yaml.dump(obj, buffer)
        text = buffer.getvalue()
        text = text.removeprefix("%YAML 1.1\n").removeprefix("---\n")
        parts.append("---\n" + text)
    return "".join(parts)
