"""Tenancy: what a Project allows an Application to read, write, delete and impersonate.

``policy_of`` turns a Project into a ``ProjectPolicy``; ``check`` weighs a ``Request``
(the app, its source, its ServiceAccount, every planned object) against it and returns
a ``Verdict`` of typed ``Refusal``s. ``operations_of_plan`` lists a sync plan's tasks
as planned objects; ``ProjectBook`` holds the Projects a process has seen. Pure: the controller and the CLI do the reading and the writing.
"""

from tether.tenancy.book import InvalidProject, ProjectBook, entry_of
from tether.tenancy.check import (
    Operation,
    PlannedObject,
    Refusal,
    Request,
    Rule,
    SourceRequest,
    Verdict,
    check,
    describe_key,
    matchable_url,
    missing_project,
    object_refusals,
    operations_of_plan,
    service_account_of,
    source_allowed,
)
from tether.tenancy.globs import glob_match
from tether.tenancy.policy import (
    DEFAULT_POLICY,
    PERMISSIVE_POLICY,
    TETHER_GROUP,
    KindPattern,
    ProjectPolicy,
    ServiceAccountRef,
    deny_all,
    is_tether_kind,
    policy_of,
)

__all__ = [
    "DEFAULT_POLICY",
    "PERMISSIVE_POLICY",
    "TETHER_GROUP",
    "InvalidProject",
    "KindPattern",
    "Operation",
    "PlannedObject",
    "ProjectBook",
    "ProjectPolicy",
    "Refusal",
    "Request",
    "Rule",
    "ServiceAccountRef",
    "SourceRequest",
    "Verdict",
    "check",
    "deny_all",
    "describe_key",
    "entry_of",
    "glob_match",
    "is_tether_kind",
    "matchable_url",
    "missing_project",
    "object_refusals",
    "operations_of_plan",
    "policy_of",
    "service_account_of",
    "source_allowed",
]
