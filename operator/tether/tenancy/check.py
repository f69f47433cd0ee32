"""Decide what a Project refuses: the app itself, its source, its ServiceAccount, its objects.

``check(policy, request)`` takes a ``ProjectPolicy``, the Application's identity and
everything a sync would do (a ``Request``: destination, source, ServiceAccount, and
every planned object with its operation and file) and returns a ``Verdict``: the
typed refusals, each naming the object, its file and the Project rule that refused
it, and the ServiceAccount the sync must impersonate. A caller applies nothing
unless ``verdict.allowed``.

The rules, in the order they are checked per object:

* a namespaced object's namespace must match ``destinations`` (``$self`` = the app's
  own namespace), then its kind must pass ``namespaceResources`` (deny wins over
  allow);
* a cluster-scoped object's kind must match ``clusterResources``; a Namespace, created
  by CreateNamespace or in the manifests, must also match ``destinations`` by name;
* Tether's own kinds (Application, Repository, Project) pass an allow list only
  through an entry whose group is spelled ``tether.dev``;
* prunes obey the same rules: a tracking label copied onto an object elsewhere is not
  proof of ownership, so nothing outside the destinations is ever deleted.

Pure: no I/O. Turning a refusal into a condition is the caller's job.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from tether.identity import AppRef, GroupKind, ResourceKey
from tether.plan.model import Plan, TaskAction
from tether.tenancy.globs import glob_match
from tether.tenancy.policy import (
    TETHER_GROUP,
    KindPattern,
    ProjectPolicy,
    ServiceAccountRef,
    is_tether_kind,
)

NAMESPACE_KIND = GroupKind("", "Namespace")


class Rule(enum.StrEnum):
    """The part of the Project that refused something."""

    PROJECT = "project"
    APPLICATION_NAMESPACES = "applicationNamespaces"
    SOURCE_REPOSITORIES = "sourceRepositories"
    REPOSITORY_REF = "repositoryRef"
    DESTINATIONS = "destinations"
    CLUSTER_RESOURCES = "clusterResources"
    NAMESPACE_ALLOW = "namespaceResources.allow"
    NAMESPACE_DENY = "namespaceResources.deny"
    SERVICE_ACCOUNT = "serviceAccount"


class Operation(enum.StrEnum):
    """What a sync would do to one object."""

    APPLY = "apply"
    HOOK = "hook"
    PRUNE = "prune"
    CREATE_NAMESPACE = "create-namespace"


@dataclass(frozen=True)
class PlannedObject:
    """One object a sync would write or delete, and where it came from."""

    key: ResourceKey
    operation: Operation
    phase: str = ""  # PreSync, Sync, PostSync or SyncFail
    source: str = ""  # "file[doc n]"; empty for prunes (live objects) and CreateNamespace


@dataclass(frozen=True)
class SourceRequest:
    """Where the app reads from: a Git URL, and the Repository it came through, if any."""

    url: str
    repository: str | None = None  # the Repository's name; None for repoURL
    repository_namespace: str | None = None  # None: the Application's own namespace


@dataclass(frozen=True)
class Request:
    """Everything one sync of one app would do, as the Project sees it."""

    app: AppRef
    destination_namespace: str
    source: SourceRequest | None = None  # None: the CLI's local folder, nothing to check
    service_account: str | None = None  # spec.destination.serviceAccountName
    objects: tuple[PlannedObject, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """One thing the Project does not allow."""

    rule: Rule
    subject: str  # what was refused, e.g. "rbac.authorization.k8s.io/ClusterRoleBinding pwn"
    detail: str  # why, in words
    source: str = ""  # the file it came from, when it came from a file

    def message(self, project: str) -> str:
        where = f" (from {self.source})" if self.source else ""
        return f"{self.subject}{where}: {self.detail} [Project {project}, rule {self.rule}]"


@dataclass(frozen=True)
class Verdict:
    """The Project's answer: refusals (none means allowed) and whom to impersonate."""

    project: str
    refusals: tuple[Refusal, ...] = ()
    service_account: ServiceAccountRef | None = None

    @property
    def allowed(self) -> bool:
        return not self.refusals

    def messages(self) -> list[str]:
        return [r.message(self.project) for r in self.refusals]

    def summary(self) -> str:
        """One line for a condition: the first refusal and how many more."""
        if not self.refusals:
            return f"allowed by Project {self.project}"
        first = self.refusals[0].message(self.project)
        more = len(self.refusals) - 1
        return f"not permitted: {first}" + (f"; and {more} more" if more else "")


@dataclass
class _Context:
    policy: ProjectPolicy
    app: AppRef
    refusals: list[Refusal] = field(default_factory=list)

    def refuse(self, rule: Rule, subject: str, detail: str, source: str = "") -> None:
        self.refusals.append(Refusal(rule, subject, detail, source))


def check(policy: ProjectPolicy, request: Request) -> Verdict:
    """Every refusal for ``request`` under ``policy``, and the account to impersonate."""
    ctx = _Context(policy, request.app)
    _check_application(ctx, request.destination_namespace)
    if request.source is not None:
        _check_source(ctx, request.source)
    account = _check_service_account(ctx, request.service_account)
    for planned in request.objects:
        _check_object(ctx, planned)
    return Verdict(policy.name, tuple(ctx.refusals), account)


def object_refusals(
    policy: ProjectPolicy, app: AppRef, planned: PlannedObject
) -> tuple[Refusal, ...]:
    """The refusals of one planned object alone, without the app-level checks."""
    ctx = _Context(policy, app)
    _check_object(ctx, planned)
    return tuple(ctx.refusals)


def missing_project(name: str, app: AppRef) -> Verdict:
    """The verdict for an app whose Project does not exist: everything is refused."""
    refusal = Refusal(
        Rule.PROJECT,
        f"Application {app}",
        f"Project {name} does not exist; ask a cluster admin to create it or name another",
    )
    return Verdict(name, (refusal,))


def service_account_of(policy: ProjectPolicy, app: AppRef, requested: str | None) -> str | None:
    """The ``system:serviceaccount:`` user a sync impersonates, or None (the operator's own).

    The Project's account when it fixes one, else the requested name in the
    Application's own namespace, never another's. A request ``check`` refuses gives
    None; callers apply nothing then anyway.
    """
    account = policy.service_account
    if account is not None:
        return account.resolve(app.namespace).user
    if requested and _plain_name(requested):
        return ServiceAccountRef(requested, app.namespace).user
    return None


# -- the app itself ----------------------------------------------------------------------


def _check_application(ctx: _Context, destination_namespace: str) -> None:
    policy, app = ctx.policy, ctx.app
    if not any(glob_match(g, app.namespace) for g in policy.application_namespaces):
        ctx.refuse(
            Rule.APPLICATION_NAMESPACES,
            f"Application {app}",
            f"Applications in namespace {app.namespace} may not use this Project",
        )
    if not policy.allows_destination(destination_namespace, app.namespace):
        ctx.refuse(
            Rule.DESTINATIONS,
            f"destination.namespace {destination_namespace}",
            "the namespace is not among the Project's destinations",
        )


def _check_source(ctx: _Context, source: SourceRequest) -> None:
    if source.repository_namespace not in (None, ctx.app.namespace):
        ctx.refuse(
            Rule.REPOSITORY_REF,
            f"repositoryRef {source.repository_namespace}/{source.repository}",
            "a Repository in another namespace: its credentials are not this app's to use",
        )
        return
    subject = f"Repository {source.repository}" if source.repository else "repoURL"
    url = matchable_url(source.url)
    if url is None:
        ctx.refuse(
            Rule.SOURCE_REPOSITORIES,
            f"{subject} {_without_userinfo(source.url)}",
            "the URL has '.' or '..' path segments; write it in normal form",
        )
    elif not any(glob_match(g, url, separator="/") for g in ctx.policy.source_repositories):
        ctx.refuse(
            Rule.SOURCE_REPOSITORIES,
            f"{subject} {url}",
            "the URL is not among the Project's sourceRepositories",
        )


def source_allowed(policy: ProjectPolicy, url: str) -> bool:
    """Whether the Project's sourceRepositories admit ``url`` (a chart dependency's, say)."""
    found = matchable_url(url)
    return found is not None and any(
        glob_match(g, found, separator="/") for g in policy.source_repositories
    )


def matchable_url(url: str) -> str | None:
    """``url`` without credentials, for glob matching; None when it has dot segments."""
    bare = _without_userinfo(url.strip())
    path = urlsplit(bare).path if "://" in bare else bare.partition(":")[2]
    if any(part in (".", "..") for part in path.split("/")):
        return None
    return bare


def _without_userinfo(url: str) -> str:
    if "://" not in url:
        return url
    scheme, _, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"


def _check_service_account(ctx: _Context, requested: str | None) -> ServiceAccountRef | None:
    fixed = ctx.policy.service_account
    if requested is not None and not _plain_name(requested):
        ctx.refuse(
            Rule.SERVICE_ACCOUNT,
            f"destination.serviceAccountName {requested}",
            "write a plain name: it always names an account in the Application's own namespace",
        )
        return None
    if fixed is not None:
        if requested is not None and requested != fixed.name:
            ctx.refuse(
                Rule.SERVICE_ACCOUNT,
                f"destination.serviceAccountName {requested}",
                f"the Project fixes the ServiceAccount to {fixed}",
            )
        return fixed.resolve(ctx.app.namespace)
    return ServiceAccountRef(requested, ctx.app.namespace) if requested else None


def _plain_name(name: str) -> bool:
    return bool(name) and not any(ch in name for ch in ":/ ")


# -- objects ------------------------------------------------------------------------------


def describe_key(key: ResourceKey) -> str:
    """``apps/Deployment team-a/web`` or ``Namespace team-b`` (core group left out)."""
    kind = f"{key.group}/{key.kind}" if key.group else key.kind
    where = f"{key.namespace}/{key.name}" if key.namespace else key.name
    return f"{kind} {where}"


def _check_object(ctx: _Context, planned: PlannedObject) -> None:
    key, gk = planned.key, planned.key.group_kind
    subject = _subject(planned)
    if planned.operation is Operation.CREATE_NAMESPACE or not key.namespace:
        _check_cluster_object(ctx, planned, subject)
        return
    if not ctx.policy.allows_destination(key.namespace, ctx.app.namespace):
        detail = f"namespace {key.namespace} is not among the Project's destinations"
        if planned.operation is Operation.PRUNE:
            detail += "; a tracking label is not proof of ownership, so it is never deleted"
        ctx.refuse(Rule.DESTINATIONS, subject, detail, planned.source)
        return
    denied = _first_match(ctx.policy.namespace_deny, gk)
    if denied is not None:
        ctx.refuse(Rule.NAMESPACE_DENY, subject, f"the kind is denied by {denied}", planned.source)
    elif not any(p.allows(gk) for p in ctx.policy.namespace_allow):
        ctx.refuse(Rule.NAMESPACE_ALLOW, subject, _not_allowed(gk, "namespaced"), planned.source)


def _check_cluster_object(ctx: _Context, planned: PlannedObject, subject: str) -> None:
    gk = planned.key.group_kind
    if not any(p.allows(gk) for p in ctx.policy.cluster_resources):
        ctx.refuse(
            Rule.CLUSTER_RESOURCES, subject, _not_allowed(gk, "cluster-scoped"), planned.source
        )
    elif gk == NAMESPACE_KIND and not ctx.policy.allows_destination(
        planned.key.name, ctx.app.namespace
    ):
        ctx.refuse(
            Rule.DESTINATIONS,
            subject,
            f"namespace {planned.key.name} is not among the Project's destinations",
            planned.source,
        )


def _subject(planned: PlannedObject) -> str:
    described = describe_key(planned.key)
    if planned.operation is Operation.CREATE_NAMESPACE:
        return f"{described} (CreateNamespace)"
    if planned.operation is Operation.PRUNE:
        return f"prune of {described}"
    if planned.operation is Operation.HOOK:
        return f"{planned.phase or 'hook'} hook {described}"
    return described


def _first_match(patterns: Iterable[KindPattern], gk: GroupKind) -> KindPattern | None:
    return next((p for p in patterns if p.matches(gk)), None)


def _not_allowed(gk: GroupKind, scope: str) -> str:
    if is_tether_kind(gk):
        return (
            f"Tether's own kind {gk.kind} needs an entry with group {TETHER_GROUP} spelled out "
            f"in the Project's {'clusterResources' if scope == 'cluster-scoped' else 'namespaceResources.allow'}"
        )
    return f"the {scope} kind is not allowed by the Project"


# -- from a plan --------------------------------------------------------------------------

_OPERATIONS = {
    TaskAction.APPLY: Operation.APPLY,
    TaskAction.CREATE: Operation.APPLY,
    TaskAction.PRUNE: Operation.PRUNE,
    TaskAction.HOOK: Operation.HOOK,
    TaskAction.CREATE_NAMESPACE: Operation.CREATE_NAMESPACE,
}


def operations_of_plan(plan: Plan, sources: Mapping[ResourceKey, str]) -> tuple[PlannedObject, ...]:
    """Every task of ``plan``, SyncFail hooks included, as planned objects with their files.

    ``sources`` maps the desired keys to their files. A hook that only had a
    ``generateName`` was named by the planner; it is found under its key with an empty
    name.
    """
    out: list[PlannedObject] = []
    for step in (*plan.steps, *plan.sync_fail):
        for task in step.tasks:
            source = sources.get(task.key)
            if source is None and task.action is TaskAction.HOOK:
                source = sources.get(replace(task.key, name=""))
            out.append(
                PlannedObject(task.key, _OPERATIONS[task.action], task.phase.value, source or "")
            )
    return tuple(out)
