"""Object metadata and the pieces every Tether resource shares.

``ObjectMeta`` keeps the fields the controllers read (name, namespace, generation,
annotations, finalizers...) and tolerates the rest. ``LocalObjectReference`` names
another object in the same namespace; ``RepositoryReference`` is one for a
Repository, whose ``namespace``, when written, is checked by the Project rules.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from tether.api.types import ApiModel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class ObjectMeta(ApiModel):
    """The parts of ``metadata`` Tether reads; anything else is kept as is."""

    model_config = ConfigDict(extra="allow")

    name: str = ""
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    finalizers: list[str] = Field(default_factory=list)
    deletion_timestamp: str | None = None
    creation_timestamp: str | None = None


class LocalObjectReference(ApiModel):
    """A reference to another object in the same namespace."""

    name: str = Field(
        min_length=1, max_length=253, pattern=DNS_SUBDOMAIN, description="Its metadata.name."
    )


class RepositoryReference(LocalObjectReference):
    """A Repository, by name. It must be in the Application's own namespace."""

    namespace: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS_LABEL,
        description=(
            "Leave unset. Any namespace but the Application's own is refused as "
            "NotPermitted: another namespace's credentials are not the app's to use."
        ),
    )


def object_label(kind: str, raw: dict[str, Any]) -> str:
    """``namespace/name`` of a raw object for messages, with placeholders when missing."""
    meta = raw.get("metadata") if isinstance(raw, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name") or "<no name>"
    ns = meta.get("namespace")
    return f"{ns}/{name}" if ns else str(name)
