"""The Project resource: who may deploy what, where. Cluster-scoped, written by admins.

Every Application names one Project (``spec.project``, default ``default``). The
Project says which repositories its apps may read, which namespaces they may write
to (``$self`` is the Application's own namespace), which cluster-scoped and
namespaced kinds they may manage, which namespaces' Applications may use it, and
optionally the ServiceAccount every sync impersonates.

Every list is an allow list and an empty list allows nothing, with one exception:
``namespaceResources.allow``, when left out, allows every namespaced kind, because
``destinations`` already fences namespaced objects. Tether's own kinds (Application,
Repository, Project) are allowed only by an entry whose group is ``tether.dev``
spelled out, never by a wildcard group.

This module validates and describes; the decisions are in ``tether.tenancy``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from tether.api.conditions import Condition
from tether.api.meta import DNS_LABEL, DNS_SUBDOMAIN, ObjectMeta
from tether.api.types import ApiModel, StatusModel

SELF = "$self"
"""In ``destinations``: the namespace of the Application being checked."""

DEFAULT_PROJECT = "default"

# A namespace glob: DNS-label characters plus the wildcards * and ?, or exactly $self.
NAMESPACE_GLOB = r"^(\$self|[a-z0-9*?]([-a-z0-9*?]*[a-z0-9*?])?)$"
# A group or kind glob: letters, digits, '.', '-', and the wildcards; the empty group is core.
GROUP_GLOB = r"^[A-Za-z0-9.*?-]*$"
KIND_GLOB = r"^[A-Za-z0-9*?]+$"
_SPACE = re.compile(r"\s")


class GroupKindRule(ApiModel):
    """A group/kind pattern: * matches any run of characters, ? one character."""

    group: str = Field(
        default="",
        max_length=253,
        pattern=GROUP_GLOB,
        description="API group glob: '' for the core group, 'apps', '*.example.com', '*'.",
    )
    kind: str = Field(
        min_length=1,
        max_length=63,
        pattern=KIND_GLOB,
        description="Kind glob, e.g. Deployment or '*'.",
    )


def _everything() -> list[GroupKindRule]:
    return [GroupKindRule(group="*", kind="*")]


class NamespaceResources(ApiModel):
    """Which namespaced kinds the Project's apps may manage. A deny entry wins over allow."""

    allow: list[GroupKindRule] = Field(
        default_factory=_everything,
        description=(
            "Kinds allowed. Left out: every namespaced kind (except Tether's own). "
            "An empty list allows none."
        ),
    )
    deny: list[GroupKindRule] = Field(
        default_factory=list, description="Kinds refused even when allow matches them."
    )


class ProjectServiceAccount(ApiModel):
    """The ServiceAccount every sync of the Project's apps impersonates."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="The ServiceAccount's name.",
    )
    namespace: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS_LABEL,
        description="Its namespace. Defaults to the Application's own namespace.",
    )


MAX_ENTRIES = 256


def _item_rule(pattern: str | None, rule: str, message: str, max_length: int) -> dict[str, Any]:
    """An items schema with its CEL rule on each string, so its cost is bounded."""
    item: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": max_length}
    if pattern:
        item["pattern"] = pattern
    item["x-kubernetes-validations"] = [{"rule": rule, "message": message}]
    return {"items": item}


class ProjectSpec(ApiModel):
    """What the Project's Applications may do. Every empty list allows nothing."""

    description: str | None = Field(
        default=None, max_length=1024, description="What the Project is for, in a sentence."
    )
    source_repositories: list[str] = Field(
        default_factory=list,
        description=(
            "Git URL globs the apps may read, from a Repository or repoURL. '*' matches "
            "within one path segment, '**' across segments; a lone '*' matches every URL. "
            "Empty: none."
        ),
        max_length=MAX_ENTRIES,
        json_schema_extra=_item_rule(None, "!self.contains(' ')", "a URL glob has no spaces", 2048),
    )
    destinations: list[str] = Field(
        default_factory=list,
        description=(
            "Namespace globs the apps may write to; $self is the Application's own "
            "namespace. A Namespace object or CreateNamespace is checked by its name. "
            "Empty: none."
        ),
        max_length=MAX_ENTRIES,
        json_schema_extra=_item_rule(
            NAMESPACE_GLOB,
            "self == '$self' || !self.contains('$')",
            "the only placeholder is $self",
            63,
        ),
    )
    cluster_resources: list[GroupKindRule] = Field(
        default_factory=list,
        max_length=MAX_ENTRIES,
        description="Cluster-scoped kinds the apps may manage. Empty: none.",
    )
    namespace_resources: NamespaceResources = Field(
        default_factory=NamespaceResources,
        description="Namespaced kinds the apps may manage: allow and deny lists.",
    )
    application_namespaces: list[str] = Field(
        default_factory=list,
        description="Namespace globs whose Applications may use this Project. Empty: none.",
        max_length=MAX_ENTRIES,
        json_schema_extra=_item_rule(
            NAMESPACE_GLOB, "self != '$self'", "$self means nothing here", 63
        ),
    )
    service_account: ProjectServiceAccount | None = Field(
        default=None,
        description=(
            "When set, every sync impersonates this ServiceAccount, in the Application's "
            "own namespace unless a namespace is given; apps cannot choose another."
        ),
    )

    @field_validator("source_repositories")
    @classmethod
    def _url_globs(cls, globs: list[str]) -> list[str]:
        for glob in globs:
            if not glob or _SPACE.search(glob):
                raise ValueError(f"URL glob {glob!r} must be non-empty and have no spaces")
        return globs

    @field_validator("destinations")
    @classmethod
    def _destinations(cls, globs: list[str]) -> list[str]:
        for glob in globs:
            _check_namespace_glob(glob)
            if "$" in glob and glob != SELF:
                raise ValueError(f"destination {glob!r}: the only placeholder is {SELF}")
        return globs

    @field_validator("application_namespaces")
    @classmethod
    def _application_namespaces(cls, globs: list[str]) -> list[str]:
        for glob in globs:
            if glob == SELF:
                raise ValueError(f"{SELF} means nothing in applicationNamespaces")
            _check_namespace_glob(glob)
        return globs


def _check_namespace_glob(glob: str) -> None:
    if not re.match(NAMESPACE_GLOB, glob):
        raise ValueError(
            f"namespace glob {glob!r} may hold lowercase letters, digits, '-', * and ?"
        )


class ProjectStatus(StatusModel):
    """What the operator last observed about the Project."""

    conditions: list[Condition] = Field(
        default_factory=list,
        description=(
            "Conditions about the Project, kstatus style. Not written yet: an invalid or "
            "missing Project is reported (NotPermitted) on the Applications that name it."
        ),
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation the status describes."
    )


class Project(ApiModel):
    """Who may deploy what, where: the limits of the Applications that name this Project."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["tether.dev/v1alpha1"] = "tether.dev/v1alpha1"
    kind: Literal["Project"] = "Project"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ProjectSpec = Field(default_factory=ProjectSpec)
    status: ProjectStatus | None = None
