"""The CustomResourceDefinitions of Tether, generated from the API models.

``crd_manifests()`` builds every CRD as plain dicts; ``crds_yaml()`` prints them as
one YAML stream and ``crd_yaml()`` one of them, byte-for-byte what
``scripts/gen_crds.py`` writes to ``crds/`` and ``charts/tether/crds/``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from ruamel.yaml import YAML

from tether.api.application import Application, ApplicationSpec, ApplicationStatus
from tether.api.project import Project, ProjectSpec, ProjectStatus
from tether.api.repository import Repository, RepositorySpec, RepositoryStatus
from tether.api.schema import structural_schema
from tether.constants import GROUP, VERSION

HEADER = "# Generated from operator/tether/api by scripts/gen_crds.py. Do not edit.\n"

_READY = '.status.conditions[?(@.type=="Ready")]'


@dataclass(frozen=True)
class Kind:
    """Everything needed to describe one kind as a CRD."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    model: type[BaseModel]
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[dict[str, Any], ...]
    scope: str = "Namespaced"


def _column(
    name: str, type_: str, path: str, priority: int = 0, description: str = ""
) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": type_, "jsonPath": path}
    if description:
        column["description"] = description
    if priority:
        column["priority"] = priority
    return column


KINDS: tuple[Kind, ...] = (
    Kind(
        kind="Application",
        plural="applications",
        short_names=("app", "apps"),
        model=Application,
        spec=ApplicationSpec,
        status=ApplicationStatus,
        columns=(
            _column(
                "Sync", "string", ".status.sync.status", description="Synced, OutOfSync or Unknown"
            ),
            _column(
                "Health", "string", ".status.health.status", description="Health of the objects"
            ),
            _column("Revision", "string", ".status.sync.revision", description="Revision compared"),
            _column("Age", "date", ".metadata.creationTimestamp"),
            _column("Message", "string", ".status.message", 1, "Summary of drift or failure"),
        ),
    ),
    Kind(
        kind="Repository",
        plural="repositories",
        short_names=("repo", "repos"),
        model=Repository,
        spec=RepositorySpec,
        status=RepositoryStatus,
        columns=(
            _column("Ready", "string", f"{_READY}.status"),
            _column("URL", "string", ".spec.url"),
            _column("Age", "date", ".metadata.creationTimestamp"),
            _column("Type", "string", ".spec.type", 1, "helm or oci; empty for git"),
            _column("Fetched", "date", ".status.lastFetchTime", 1, "Last fetch or check"),
            _column("Message", "string", f"{_READY}.message", 1),
        ),
    ),
    Kind(
        kind="Project",
        plural="projects",
        short_names=("proj", "projs"),
        model=Project,
        spec=ProjectSpec,
        status=ProjectStatus,
        columns=(
            _column("Description", "string", ".spec.description"),
            _column("Age", "date", ".metadata.creationTimestamp"),
        ),
        scope="Cluster",
    ),
)


# kopf's state storage is pointed at status.kopf (tether.controller.settings); it is
# declared so the apiserver keeps it, but it is not part of the status models.
_KOPF_STATUS = {
    "description": "kopf's own bookkeeping; not part of Tether's API.",
    "type": "object",
    "x-kubernetes-preserve-unknown-fields": True,
}


def _status_schema(kind: Kind) -> dict[str, Any]:
    schema = structural_schema(kind.status)
    schema["properties"]["kopf"] = _KOPF_STATUS
    return schema


def _object_schema(kind: Kind) -> dict[str, Any]:
    return {
        "description": (kind.model.__doc__ or kind.kind).strip(),
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": structural_schema(kind.spec),
            "status": _status_schema(kind),
        },
        "required": ["spec"],
    }


def crd_manifest(kind: Kind) -> dict[str, Any]:
    """The CRD of one kind: one served, stored version with the status subresource."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": list(kind.short_names),
                "categories": ["tether"],
            },
            "scope": kind.scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(c) for c in kind.columns],
                    "schema": {"openAPIV3Schema": _object_schema(kind)},
                }
            ],
        },
    }


def crd_manifests() -> list[dict[str, Any]]:
    """Every Tether CRD, Application first."""
    # A JSON round trip gives each CRD its own lists, so YAML never emits anchors.
    return [json.loads(json.dumps(crd_manifest(k))) for k in KINDS]


def _dump(obj: dict[str, Any]) -> str:
    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(obj, out)
    return out.getvalue()


def crd_filename(crd: dict[str, Any]) -> str:
    """The file a CRD is written to: ``<plural>.<group>.yaml``."""
    return f"{crd['metadata']['name']}.yaml"


def crd_yaml(crd: dict[str, Any]) -> str:
    """One CRD as a YAML document, with the generated-file header."""
    return HEADER + _dump(crd)


def crds_yaml() -> str:
    """All CRDs as one YAML stream, documents separated by ``---``."""
    return "".join("---\n" + _dump(c) for c in crd_manifests())
