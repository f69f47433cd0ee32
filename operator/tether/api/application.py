"""The Application resource: a path in a Git revision, kept in sync with a cluster.

The spec says what to deploy (source), where (destination) and how (syncPolicy,
ignoreDifferences, deletionPolicy). The status is what the Application controller
reports: sync and health, the inventory of resources, kstatus conditions, the
running or last sync operation and the last ten syncs.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from tether.api.conditions import Condition
from tether.api.meta import DNS_LABEL, DNS_SUBDOMAIN, ObjectMeta, RepositoryReference
from tether.api.syncoptions import (
    SYNC_OPTION_PATTERN,
    SyncOptions,
    check_sync_option,
    parse_sync_options,
)
from tether.api.types import (
    ApiModel,
    Duration,
    Interval,
    StatusModel,
    Timestamp,
    parse_duration,
)
from tether.api.urls import MAX_URL_LENGTH, check_git_url
from tether.api.writeback import WriteBack, WriteBackStatus
from tether.tree import joined_path, path_problem

SyncStatusCode = Literal["Synced", "OutOfSync", "Unknown"]
HealthStatusCode = Literal["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"]
OperationPhaseName = Literal["Running", "Succeeded", "Failed", "Error", "Terminating"]
DeletionPolicy = Literal["Orphan", "Delete"]

MAX_HISTORY = 10
MAX_PATH_LENGTH = 1024

_PRESERVE: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}
_FREE_OBJECT: dict[str, Any] = {"type": "object", **_PRESERVE}
_PATH_RULE = (
    "!self.startsWith('/') && self != '..' && !self.startsWith('../') "
    "&& !self.endsWith('/..') && !self.contains('/../')"
)


def check_repo_path(path: str) -> str:
    """Return ``path`` if it is relative and cannot leave the repository root."""
    problem = path_problem(path)
    if problem is not None:
        raise ValueError(problem)
    return path


def clean_repo_path(path: str) -> str:
    """A checked path in normal form: no ``.`` parts, no trailing slash, ``""`` for the root."""
    normal = posixpath.normpath(check_repo_path(path) or ".")
    return "" if normal == "." else normal


# --- source -------------------------------------------------------------------------

MAX_SOURCES = 20


def check_ref_file(name: str) -> str:
    """``$ref/path``: a ref name and a path that stays inside that source's tree."""
    ref, _, path = name[1:].partition("/")
    if not ref or not path or joined_path("", path) is None:
        raise ValueError(
            f"value file {name!r} must be $ref/path with a path inside the ref's repository"
        )
    return name


def check_source_refs(sources: Sequence[ApplicationSource]) -> None:
    """Refs are unique, and every ``$ref/...`` value file names one of them."""
    refs: set[str] = set()
    for source in sources:
        if source.ref is not None:
            if source.ref in refs:
                raise ValueError(f"ref {source.ref!r} is given to two sources")
            refs.add(source.ref)
    for source in sources:
        for name in source.helm.value_files if source.helm is not None else ():
            if name.startswith("$") and name[1:].partition("/")[0] not in refs:
                raise ValueError(f"value file {name!r} names no source's ref")


class JsonnetVar(ApiModel):
    """An external variable or top-level argument for the folder's Jsonnet files."""

    name: str = Field(min_length=1, description="The variable's or argument's name.")
    value: str = Field(default="", description="A string, or Jsonnet code when code is true.")
    code: bool = Field(
        default=False, description="Evaluate value as Jsonnet code instead of passing a string."
    )


class JsonnetOptions(ApiModel):
    """How to evaluate the folder's *.jsonnet files (as Argo CD's directory.jsonnet)."""

    ext_vars: list[JsonnetVar] = Field(
        default_factory=list, description="External variables, read with std.extVar(name)."
    )
    tlas: list[JsonnetVar] = Field(
        default_factory=list, description="Top-level arguments, for files that are functions."
    )
    libs: list[str] = Field(
        default_factory=list,
        description="Library folders, relative to the repository root, searched by import.",
    )

    @field_validator("ext_vars", "tlas")
    @classmethod
    def _unique_names(cls, variables: list[JsonnetVar]) -> list[JsonnetVar]:
        seen: set[str] = set()
        for variable in variables:
            if variable.name in seen:
                raise ValueError(f"{variable.name!r} is set twice")
            seen.add(variable.name)
        return variables

    @field_validator("libs")
    @classmethod
    def _libs_inside(cls, libs: list[str]) -> list[str]:
        return [check_repo_path(lib) for lib in libs]


class DirectoryOptions(ApiModel):
    """How to read a folder of plain manifests (YAML, JSON and Jsonnet)."""

    recurse: bool = Field(default=False, description="Also read subfolders. Defaults to false.")
    include: list[str] = Field(
        default_factory=list,
        description="Glob patterns; when set, only matching files are read (e.g. '*.yaml').",
    )
    exclude: list[str] = Field(
        default_factory=list, description="Glob patterns of files to skip; wins over include."
    )
    jsonnet: JsonnetOptions | None = Field(
        default=None, description="External variables, top-level arguments and libraries."
    )


class KustomizeOptions(ApiModel):
    """Kustomize settings, applied through a generated overlay; repository files stay as they are."""

    name_prefix: str | None = Field(default=None, description="Prefix added to every name.")
    name_suffix: str | None = Field(default=None, description="Suffix added to every name.")
    namespace: str | None = Field(
        default=None, pattern=DNS_LABEL, description="Namespace set on every namespaced object."
    )
    images: list[str] = Field(
        default_factory=list,
        description="Image overrides in kustomize edit set image form, e.g. nginx=nginx:1.27.",
    )
    common_labels: dict[str, str] = Field(
        default_factory=dict, description="Labels added to every object and selector."
    )
    common_annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations added to every object."
    )
    patches: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Kustomize patches entries: {patch, target}, as in a kustomization.yaml.",
        json_schema_extra={"items": _FREE_OBJECT},
    )

    @field_validator("images")
    @classmethod
    def _images_form(cls, images: list[str]) -> list[str]:
        for image in images:
            if not image or any(ch.isspace() for ch in image):
                raise ValueError(
                    f"image override {image!r} is not valid: write name=newName:tag, "
                    "name:tag or name@sha256:digest"
                )
        return images


class HelmParameter(ApiModel):
    """One --set parameter for helm template."""

    name: str = Field(min_length=1, description="The value's key path, e.g. image.tag.")
    value: str = Field(
        description="The value; numbers and booleans are passed as text.",
        json_schema_extra={"x-kubernetes-int-or-string": True},
    )
    force_string: bool = Field(
        default=False, description="Pass with --set-string so Helm keeps it a string."
    )

    @field_validator("value", mode="before")
    @classmethod
    def _value_as_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return value

    def as_set_argument(self) -> str:
        """The ``name=value`` form helm takes after --set or --set-string."""
        return f"{self.name}={self.value}"


class HelmOptions(ApiModel):
    """Settings for helm template."""

    release_name: str | None = Field(
        default=None,
        max_length=53,
        pattern=DNS_LABEL,
        description="The release name. Defaults to the Application's name.",
    )
    value_files: list[str] = Field(
        default_factory=list,
        description="Values files, relative to the chart folder; they must be in the repository.",
    )
    values: Any = Field(
        default=None,
        description="Inline values: an object, or a string of YAML. They win over valueFiles.",
        json_schema_extra=_PRESERVE,
    )
    parameters: list[HelmParameter] = Field(
        default_factory=list, description="--set parameters; they win over values."
    )
    skip_crds: bool = Field(
        default=False, description="Leave out the chart's crds/ folder. Defaults to false."
    )

    @field_validator("values")
    @classmethod
    def _values_shape(cls, values: Any) -> Any:
        if values is not None and not isinstance(values, dict | str):
            raise ValueError("values must be an object of Helm values or a string of YAML")
        return values

    @field_validator("value_files")
    @classmethod
    def _local_value_files(cls, files: list[str]) -> list[str]:
        for name in files:
            if "://" in name:
                raise ValueError(
                    f"value file {name!r} is a URL: value files must be in the repository"
                )
            if not name or name.startswith("/"):
                raise ValueError(f"value file {name!r} must be a path relative to the chart folder")
            if name.startswith("$"):
                check_ref_file(name)
        return files

    def set_arguments(self) -> list[str]:
        """Command-line arguments for the parameters: --set / --set-string pairs."""
        args: list[str] = []
        for p in self.parameters:
            args += ["--set-string" if p.force_string else "--set", p.as_set_argument()]
        return args


class ApplicationSource(ApiModel):
    """Where the manifests come from: a repository, a revision and a path in it."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.repositoryRef) != has(self.repoURL)",
                    "message": "set exactly one of repositoryRef or repoURL",
                },
                {
                    "rule": "[has(self.directory), has(self.kustomize), has(self.helm)]"
                    ".filter(x, x).size() <= 1",
                    "message": "set at most one of directory, kustomize or helm",
                },
                {
                    "rule": "!has(self.chart) || has(self.repositoryRef)",
                    "message": "chart needs repositoryRef to a helm or oci Repository",
                },
            ]
        }
    )

    repository_ref: RepositoryReference | None = Field(
        default=None, description="A Repository in the same namespace. Set this or repoURL."
    )
    repo_url: str | None = Field(
        default=None,
        alias="repoURL",
        max_length=MAX_URL_LENGTH,
        description="A public Git URL, read without credentials. Set this or repositoryRef.",
    )
    insecure: bool = Field(
        default=False, description="With repoURL: allow http://, git:// and file:// URLs."
    )
    chart: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description=(
            "A chart of a helm Repository, or the chart's name under an oci Repository's "
            "path. The chart renders with the helm options; revision picks its version."
        ),
    )
    revision: str = Field(
        default="HEAD",
        min_length=1,
        max_length=1024,
        description=(
            "git: a branch, tag, commit SHA, full ref (refs/pull/7/head) or semver range over "
            "tags (>=1.2.0 <2.0.0). helm: a chart version or semver range. oci: a tag, a "
            "semver range over tags, or a digest (sha256:...). Defaults to HEAD: for helm "
            "the newest stable version, for oci the tag latest."
        ),
    )
    path: str = Field(
        default="",
        max_length=MAX_PATH_LENGTH,
        description="The folder in the repository, relative to its root. Defaults to the root.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": _PATH_RULE, "message": "path must be relative and must not contain .."}
            ]
        },
    )
    directory: DirectoryOptions | None = Field(
        default=None, description="Options for a folder of plain manifests."
    )
    kustomize: KustomizeOptions | None = Field(
        default=None, description="Options for a Kustomize folder."
    )
    helm: HelmOptions | None = Field(default=None, description="Options for a Helm chart.")
    ref: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS_LABEL,
        description=(
            "In spec.sources: a name other sources use to read this source's files, as "
            "$name/path/values.yaml in helm.valueFiles. A source with a ref and no path "
            "renders nothing."
        ),
    )

    @field_validator("path")
    @classmethod
    def _path_inside(cls, path: str) -> str:
        return check_repo_path(path)

    @model_validator(mode="after")
    def _one_origin(self) -> ApplicationSource:
        if (self.repository_ref is None) == (self.repo_url is None):
            found = "both" if self.repo_url is not None else "neither"
            raise ValueError(
                f"set exactly one of repositoryRef (a Repository's name) or repoURL "
                f"(a Git URL); found {found}"
            )
        if self.repo_url is not None:
            check_git_url(self.repo_url, self.insecure)
        if self.chart is not None and self.repository_ref is None:
            raise ValueError("chart needs repositoryRef to a helm or oci Repository")
        kinds = [k for k in ("directory", "kustomize", "helm") if getattr(self, k) is not None]
        if len(kinds) > 1:
            raise ValueError(
                f"set at most one of directory, kustomize or helm; found {' and '.join(kinds)}"
            )
        if self.helm is not None:
            base = clean_repo_path(self.path)
            for name in self.helm.value_files:
                if not name.startswith("$") and joined_path(base, name) is None:
                    raise ValueError(
                        f"value file {name!r} lies outside the repository: keep it inside"
                    )
        return self

    @property
    def clean_path(self) -> str:
        """The path in normal form, ``""`` for the repository root."""
        return clean_repo_path(self.path)


class ApplicationDestination(ApiModel):
    """Where the objects go and as whom they are written."""

    namespace: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS_LABEL,
        description="Namespace for namespaced objects that set none. Defaults to the Application's.",
    )
    service_account_name: str | None = Field(
        default=None,
        max_length=253,
        description="Write as this ServiceAccount of the destination namespace (impersonation).",
    )


# --- sync policy ---------------------------------------------------------------------


class AutomatedSync(ApiModel):
    """Sync automatically when Git or the cluster changes."""

    prune: bool = Field(default=False, description="Delete objects that left Git.")
    self_heal: bool = Field(
        default=False, description="Undo live edits; otherwise sync only on new revisions."
    )
    allow_empty: bool = Field(
        default=False, description="Allow a sync that would leave the app with no objects."
    )


class RetryBackoff(ApiModel):
    """How long to wait between retries."""

    duration: Duration = Field(default="5s", description="The first wait. Defaults to 5s.")
    factor: float = Field(default=2, ge=1, description="Each wait is this times the last.")
    max_duration: Duration = Field(default="3m", description="The longest wait. Defaults to 3m.")


class RetryPolicy(ApiModel):
    """Retry a failed sync."""

    limit: int = Field(default=5, ge=0, description="How many retries; 0 means none.")
    backoff: RetryBackoff = Field(
        default_factory=RetryBackoff, description="Waits between retries."
    )


class SyncPolicy(ApiModel):
    """When and how to sync."""

    automated: AutomatedSync | None = Field(
        default=None, description="Sync automatically. Unset means sync only on request."
    )
    sync_options: list[str] = Field(
        default_factory=list,
        description="Options such as CreateNamespace=true or ServerSideApply=true.",
        json_schema_extra={"items": {"type": "string", "pattern": SYNC_OPTION_PATTERN}},
    )
    retry: RetryPolicy | None = Field(default=None, description="Retry failed syncs.")

    @field_validator("sync_options")
    @classmethod
    def _known_options(cls, options: list[str]) -> list[str]:
        for option in options:
            check_sync_option(option)
        parse_sync_options(options)
        return options

    @property
    def options(self) -> SyncOptions:
        """The options as booleans."""
        return parse_sync_options(self.sync_options)


class IgnoreDifference(ApiModel):
    """Fields to leave out of the diff for matching objects."""

    group: str = Field(default="", description="API group; empty for the core group.")
    kind: str = Field(min_length=1, description="Kind, e.g. Deployment.")
    name: str | None = Field(default=None, description="Only the object with this name.")
    namespace: str | None = Field(default=None, description="Only objects in this namespace.")
    json_pointers: list[str] = Field(
        default_factory=list, description="RFC 6901 pointers, e.g. /spec/replicas."
    )
    managed_fields_managers: list[str] = Field(
        default_factory=list, description="Ignore fields owned by these field managers."
    )

    @field_validator("json_pointers")
    @classmethod
    def _pointer_form(cls, pointers: list[str]) -> list[str]:
        for pointer in pointers:
            if not pointer.startswith("/"):
                raise ValueError(f"JSON pointer {pointer!r} must start with /, e.g. /spec/replicas")
        return pointers

    @model_validator(mode="after")
    def _has_effect(self) -> IgnoreDifference:
        if not self.json_pointers and not self.managed_fields_managers:
            raise ValueError("set jsonPointers or managedFieldsManagers, or remove this entry")
        return self


class ApplicationSpec(ApiModel):
    """What to deploy, where, and how."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.source) != has(self.sources)",
                    "message": "set exactly one of source or sources",
                },
                {
                    "rule": "!has(self.source) || !has(self.source.ref)",
                    "message": "ref is only for spec.sources",
                },
            ]
        }
    )

    project: str = Field(
        default="default",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="The Project that limits what this app may do. Defaults to default.",
    )
    source: ApplicationSource | None = Field(
        default=None, description="Where the manifests come from. Set this or sources."
    )
    sources: list[ApplicationSource] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SOURCES,
        description=(
            "Several sources rendered into one app (set this or source); e.g. a chart from "
            "a helm Repository with values from a Git Repository named by ref."
        ),
    )
    destination: ApplicationDestination = Field(
        default_factory=ApplicationDestination, description="Where the objects go."
    )
    sync_policy: SyncPolicy = Field(default_factory=SyncPolicy, description="When and how to sync.")
    ignore_differences: list[IgnoreDifference] = Field(
        default_factory=list, description="Fields the diff leaves out."
    )
    interval: Interval = Field(
        default="3m",
        description="How often to re-check even without events, at least 10s. Defaults to 3m.",
    )
    suspend: bool = Field(
        default=False, description="Stop automatic syncs; drift is still reported."
    )
    deletion_policy: DeletionPolicy | None = Field(
        default=None,
        description=(
            "What happens to the objects when the Application is deleted: Delete or Orphan. "
            "Defaults to Delete when syncPolicy.automated.prune is true, else Orphan."
        ),
    )
    write_back: WriteBack | None = Field(
        default=None,
        description=(
            "Two-way GitOps: live changes to listed fields, and labelled objects created by "
            "hand, are committed and pushed to Git instead of being reverted."
        ),
    )

    @model_validator(mode="after")
    def _one_source_form(self) -> ApplicationSpec:
        if (self.source is None) == (self.sources is None):
            found = "both" if self.source is not None else "neither"
            raise ValueError(f"set exactly one of source or sources; found {found}")
        if self.source is not None and self.source.ref is not None:
            raise ValueError("ref is only for spec.sources: other sources name it as $ref/...")
        check_source_refs(self.sources or [])
        if self.sources is not None and self.write_back is not None:
            raise ValueError("writeBack needs a single source: it commits to spec.source")
        return self

    @property
    def all_sources(self) -> list[ApplicationSource]:
        """``[source]`` or ``sources``: every source of the app, in order."""
        return [self.source] if self.source is not None else list(self.sources or [])

    @property
    def interval_seconds(self) -> float:
        """The re-check interval in seconds."""
        return parse_duration(self.interval)

    def effective_deletion_policy(self) -> DeletionPolicy:
        """deletionPolicy, or its default: Delete with automated prune, else Orphan."""
        if self.deletion_policy is not None:
            return self.deletion_policy
        automated = self.sync_policy.automated
        return "Delete" if automated is not None and automated.prune else "Orphan"


# --- status ---------------------------------------------------------------------------


class SyncState(StatusModel):
    """Whether the cluster matches Git, and at which revision."""

    status: SyncStatusCode = Field(default="Unknown", description="Synced, OutOfSync or Unknown.")
    revision: str | None = Field(
        default=None, description="The revision compared, <ref>@sha1:<40 hex>."
    )
    revisions: list[str] | None = Field(
        default=None,
        description="With spec.sources: each source's resolved revision, in order.",
    )


class HealthState(StatusModel):
    """How healthy the objects are."""

    status: HealthStatusCode = Field(
        default="Unknown",
        description="Healthy, Progressing, Degraded, Suspended, Missing or Unknown.",
    )
    message: str | None = Field(default=None, description="Why, when not Healthy.")


class ResourceStatus(StatusModel):
    """One object of the Application's inventory."""

    group: str = Field(default="", description="API group; empty for the core group.")
    version: str = Field(default="", description="API version.")
    kind: str = Field(description="Kind.")
    namespace: str | None = Field(default=None, description="Namespace; unset if cluster-scoped.")
    name: str = Field(description="Name.")
    status: SyncStatusCode | None = Field(default=None, description="Synced or OutOfSync.")
    health: HealthState | None = Field(default=None, description="Health, when known.")
    wave: int = Field(default=0, description="The sync wave.")
    requires_pruning: bool = Field(default=False, description="In the cluster but not in Git.")
    hook: bool = Field(default=False, description="A hook rather than a tracked object.")
    drifted_fields: list[str] = Field(
        default_factory=list, description="JSON pointers of the fields that differ from Git."
    )
    message: str | None = Field(default=None, description="Why it is out of sync or failing.")


class ResourceResult(StatusModel):
    """What one sync step did to one object."""

    group: str = Field(default="", description="API group.")
    version: str = Field(default="", description="API version.")
    kind: str = Field(description="Kind.")
    namespace: str | None = Field(default=None, description="Namespace.")
    name: str = Field(description="Name.")
    status: str = Field(description="Synced, SyncFailed, Pruned, PruneSkipped or Running.")
    message: str | None = Field(default=None, description="Details of the outcome.")
    action: str | None = Field(default=None, description="create, update, replace, prune...")
    sync_phase: str | None = Field(default=None, description="PreSync, Sync, PostSync or SyncFail.")
    wave: int | None = Field(default=None, description="The sync wave.")
    hook_phase: str | None = Field(default=None, description="A hook's state, e.g. Succeeded.")


class SyncResult(StatusModel):
    """The outcome of a sync so far."""

    revision: str | None = Field(default=None, description="The revision being synced.")
    resources: list[ResourceResult] = Field(default_factory=list, description="Per-object results.")


class OperationState(StatusModel):
    """The running or last sync, persisted after each step so a restart can resume it."""

    phase: OperationPhaseName = Field(
        description="Running, Succeeded, Failed, Error or Terminating."
    )
    message: str | None = Field(default=None, description="What is happening or went wrong.")
    revision: str | None = Field(default=None, description="The revision being synced.")
    initiated_by: str | None = Field(
        default=None, description="automated, selfHeal or manual (the tether.dev/sync value)."
    )
    started_at: Timestamp | None = Field(default=None, description="When the sync started.")
    finished_at: Timestamp | None = Field(default=None, description="When it finished.")
    retry_count: int = Field(default=0, ge=0, description="Retries made so far.")
    step: str | None = Field(default=None, description="The step under way, e.g. 'Sync wave 2'.")
    plan: dict[str, Any] | None = Field(
        default=None,
        description="The sync engine's own progress record (opaque to users).",
        json_schema_extra=_PRESERVE,
    )
    sync_result: SyncResult | None = Field(default=None, description="Results so far.")


class HistoryEntry(StatusModel):
    """One finished sync."""

    id: int = Field(ge=0, description="Increasing number of the sync.")
    revision: str = Field(description="The revision synced.")
    deployed_at: Timestamp = Field(description="When the sync finished.")
    started_at: Timestamp | None = Field(default=None, description="When the sync started.")
    result: OperationPhaseName = Field(description="Succeeded, Failed or Error.")
    message: str | None = Field(default=None, description="A short summary.")


class ApplicationStatus(StatusModel):
    """What the Application controller last observed and did."""

    sync: SyncState = Field(default_factory=SyncState, description="Sync status.")
    health: HealthState = Field(default_factory=HealthState, description="Health status.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Reconciling and Stalled (kstatus), plus e.g. SharedResource.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation the status describes."
    )
    resources: list[ResourceStatus] = Field(
        default_factory=list, description="The inventory: every object the app manages."
    )
    operation_state: OperationState | None = Field(
        default=None, description="The running or last sync operation."
    )
    history: list[HistoryEntry] = Field(
        default_factory=list, max_length=MAX_HISTORY, description="The last ten syncs."
    )
    reconciled_at: Timestamp | None = Field(
        default=None, description="When the app was last compared with Git."
    )
    message: str | None = Field(
        default=None, description="A one-line summary, e.g. what drifted or what failed."
    )
    last_handled_sync: str | None = Field(
        default=None, description="The last tether.dev/sync annotation value acted on."
    )
    last_handled_refresh: str | None = Field(
        default=None, description="The last tether.dev/refresh annotation value acted on."
    )
    write_back: WriteBackStatus | None = Field(
        default=None, description="What write-back last pushed and what is pending."
    )


def append_history(
    history: Sequence[HistoryEntry],
    *,
    revision: str,
    result: OperationPhaseName,
    deployed_at: datetime,
    started_at: datetime | None = None,
    message: str | None = None,
) -> list[HistoryEntry]:
    """A new history with one more entry (next id), keeping the last ten."""
    next_id = max((h.id for h in history), default=-1) + 1
    entry = HistoryEntry(
        id=next_id,
        revision=revision,
        deployed_at=deployed_at,
        started_at=started_at,
        result=result,
        message=message,
    )
    return [*history, entry][-MAX_HISTORY:]


class Application(ApiModel):
    """A path in a Git revision, kept in sync with the cluster."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["tether.dev/v1alpha1"] = "tether.dev/v1alpha1"
    kind: Literal["Application"] = "Application"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ApplicationSpec
    status: ApplicationStatus | None = None

    @property
    def target_namespace(self) -> str | None:
        """destination.namespace, or the Application's own namespace."""
        return self.spec.destination.namespace or self.metadata.namespace
