"""``tether crds``: print Tether's CustomResourceDefinitions as a YAML stream.

The output is generated from the API models, the same documents that
``scripts/gen_crds.py`` writes to ``crds/`` and the Helm chart, so
``tether crds | kubectl apply -f -`` installs exactly what the chart installs.
"""

from __future__ import annotations

import click


@click.command()
def crds() -> None:
    """Print the CustomResourceDefinitions (Application, Repository) as YAML."""
    from tether.api.crd import crds_yaml

    click.echo(crds_yaml(), nl=False)
