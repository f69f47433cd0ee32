"""A Project as a frozen policy value, and the two policies the chart can install.

``policy_of`` turns a validated ``Project`` (the pydantic API model) into a
``ProjectPolicy``, the value every check in ``tether.tenancy.check`` reads. The
chart's ``default`` Project in its tight form is ``DEFAULT_POLICY``; the
``projects.default.permissive`` switch installs ``PERMISSIVE_POLICY``'s rules.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from tether.api.project import SELF, Project
from tether.identity import GroupKind
from tether.tenancy.globs import glob_match, has_wildcard

TETHER_GROUP = "tether.dev"
TETHER_KINDS = frozenset({"Application", "Repository", "Project"})


@dataclass(frozen=True)
class KindPattern:
    """A group/kind glob from the Project."""

    group: str
    kind: str

    def matches(self, group_kind: GroupKind) -> bool:
        """Whether the globs cover ``group_kind`` (what a deny entry needs)."""
        return glob_match(self.group, group_kind.group) and glob_match(self.kind, group_kind.kind)

    def allows(self, group_kind: GroupKind) -> bool:
        """Whether this allow entry covers ``group_kind``.

        Tether's own kinds are covered only when the group is spelled out, so that a
        ``*`` group never hands a tenant Applications, Repositories or Projects.
        """
        if is_tether_kind(group_kind) and (has_wildcard(self.group) or self.group != TETHER_GROUP):
            return False
        return self.matches(group_kind)

    def __str__(self) -> str:
        return f"{self.group or '(core)'}/{self.kind}"


@dataclass(frozen=True)
class ServiceAccountRef:
    """A ServiceAccount; ``namespace`` None means the Application's own namespace."""

    name: str
    namespace: str | None = None

    def resolve(self, app_namespace: str) -> ServiceAccountRef:
        """This account with its namespace filled in."""
        return ServiceAccountRef(self.name, self.namespace or app_namespace)

    @property
    def user(self) -> str:
        """The user name to impersonate (``system:serviceaccount:<ns>:<name>``)."""
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class ProjectPolicy:
    """What a Project allows. Every tuple is an allow list; empty allows nothing."""

    name: str
    source_repositories: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()
    cluster_resources: tuple[KindPattern, ...] = ()
    namespace_allow: tuple[KindPattern, ...] = (KindPattern("*", "*"),)
    namespace_deny: tuple[KindPattern, ...] = ()
    application_namespaces: tuple[str, ...] = ()
    service_account: ServiceAccountRef | None = None

    def allows_destination(self, namespace: str, app_namespace: str) -> bool:
        """Whether ``namespace`` matches a destination (``$self`` = ``app_namespace``)."""
        return any(
            namespace == app_namespace if glob == SELF else glob_match(glob, namespace)
            for glob in self.destinations
        )


def deny_all(name: str) -> ProjectPolicy:
    """The policy of a Project that cannot be used: nothing anywhere."""
    return ProjectPolicy(name, namespace_allow=())


def is_tether_kind(group_kind: GroupKind) -> bool:
    """Application, Repository or Project of group tether.dev."""
    return group_kind.group == TETHER_GROUP and group_kind.kind in TETHER_KINDS


def policy_of(project: Project) -> ProjectPolicy:
    """The policy value of a validated Project."""
    spec = project.spec
    account = spec.service_account
    return ProjectPolicy(
        name=project.metadata.name,
        source_repositories=tuple(spec.source_repositories),
        destinations=tuple(spec.destinations),
        cluster_resources=tuple(KindPattern(r.group, r.kind) for r in spec.cluster_resources),
        namespace_allow=tuple(KindPattern(r.group, r.kind) for r in spec.namespace_resources.allow),
        namespace_deny=tuple(KindPattern(r.group, r.kind) for r in spec.namespace_resources.deny),
        application_namespaces=tuple(spec.application_namespaces),
        service_account=(
            ServiceAccountRef(account.name, account.namespace) if account is not None else None
        ),
    )


DEFAULT_POLICY = ProjectPolicy(
    name="default",
    source_repositories=("*",),
    destinations=(SELF,),
    application_namespaces=("*",),
)
"""The chart's tight ``default``: namespaced objects in the app's own namespace only."""

_EVERY_KIND = (KindPattern("*", "*"), KindPattern(TETHER_GROUP, "*"))

PERMISSIVE_POLICY = ProjectPolicy(
    name="default",
    source_repositories=("*",),
    destinations=("*",),
    cluster_resources=_EVERY_KIND,
    namespace_allow=_EVERY_KIND,
    application_namespaces=("*",),
)
"""The chart's ``projects.default.permissive: true``, Tether before Projects: any
namespace, any kind, Tether's own included (app-of-apps)."""
