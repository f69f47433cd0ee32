"""Tether's API: the Repository and Application resources (group tether.dev, v1alpha1).

The pydantic models here are the single source of truth. The CRDs in ``crds/`` and
in the Helm chart are generated from them (``scripts/gen_crds.py``); the controller
parses objects with ``parse_application`` / ``parse_repository`` and writes status
built from the status models, sent through ``status_patch``.

This package validates and describes; it does no I/O.
"""

from tether.api.application import (
    MAX_HISTORY,
    Application,
    ApplicationDestination,
    ApplicationSource,
    ApplicationSpec,
    ApplicationStatus,
    AutomatedSync,
    DeletionPolicy,
    DirectoryOptions,
    HealthState,
    HealthStatusCode,
    HelmOptions,
    HelmParameter,
    HistoryEntry,
    IgnoreDifference,
    KustomizeOptions,
    OperationPhaseName,
    OperationState,
    ResourceResult,
    ResourceStatus,
    RetryBackoff,
    RetryPolicy,
    SyncPolicy,
    SyncResult,
    SyncState,
    SyncStatusCode,
    append_history,
    check_repo_path,
    clean_repo_path,
)
from tether.api.conditions import (
    READY,
    RECONCILING,
    STALLED,
    Condition,
    Reason,
    find_condition,
    is_condition_true,
    mark_not_ready,
    mark_ready,
    mark_reconciling,
    mark_stalled,
    remove_condition,
    set_condition,
)
from tether.api.crd import crd_manifests, crds_yaml
from tether.api.errors import ApiError, FieldProblem, InvalidObjectError
from tether.api.meta import (
    LocalObjectReference,
    ObjectMeta,
)
from tether.api.parse import parse_application, parse_repository
from tether.api.patch import merge_patch, status_patch
from tether.api.repository import Repository, RepositorySpec, RepositoryStatus, ResolvedRevision
from tether.api.syncoptions import SyncOptions, parse_sync_options
from tether.api.types import Duration, Timestamp, parse_duration, utc_now
from tether.constants import API_VERSION, GROUP, REFRESH_ANNOTATION, SYNC_ANNOTATION, VERSION

__all__ = [
    "API_VERSION",
    "GROUP",
    "MAX_HISTORY",
    "READY",
    "RECONCILING",
    "REFRESH_ANNOTATION",
    "STALLED",
    "SYNC_ANNOTATION",
    "VERSION",
    "ApiError",
    "Application",
    "ApplicationDestination",
    "ApplicationSource",
    "ApplicationSpec",
    "ApplicationStatus",
    "AutomatedSync",
    "Condition",
    "DeletionPolicy",
    "DirectoryOptions",
    "Duration",
    "FieldProblem",
    "HealthState",
    "HealthStatusCode",
    "HelmOptions",
    "HelmParameter",
    "HistoryEntry",
    "IgnoreDifference",
    "InvalidObjectError",
    "KustomizeOptions",
    "LocalObjectReference",
    "ObjectMeta",
    "OperationPhaseName",
    "OperationState",
    "Reason",
    "Repository",
    "RepositorySpec",
    "RepositoryStatus",
    "ResolvedRevision",
    "ResourceResult",
    "ResourceStatus",
    "RetryBackoff",
    "RetryPolicy",
    "SyncOptions",
    "SyncPolicy",
    "SyncResult",
    "SyncState",
    "SyncStatusCode",
    "Timestamp",
    "append_history",
    "check_repo_path",
    "clean_repo_path",
    "crd_manifests",
    "crds_yaml",
    "find_condition",
    "is_condition_true",
    "mark_not_ready",
    "mark_ready",
    "mark_reconciling",
    "mark_stalled",
    "merge_patch",
    "parse_application",
    "parse_duration",
    "parse_repository",
    "parse_sync_options",
    "remove_condition",
    "set_condition",
    "status_patch",
    "utc_now",
]
