"""The Repository resource: a Git repository, Helm repository or OCI registry path.

The spec says what it is (``type``: git, helm or oci), where it is and how to
reach it; the status says what the Repository controller last saw: conditions,
the revisions apps asked for and what they resolved to (a commit, or a chart
version and its digest), and when it last fetched.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from tether.api.conditions import Condition
from tether.api.meta import LocalObjectReference, ObjectMeta
from tether.api.types import (
    ApiModel,
    Duration,
    Interval,
    StatusModel,
    Timestamp,
    parse_duration,
)
from tether.api.urls import MAX_URL_LENGTH, check_source_url

RepositoryType = Literal["git", "helm", "oci"]

INSECURE_URL_RULE = (
    "(has(self.insecure) && self.insecure) || !(self.url.startsWith('http://') || "
    "self.url.startsWith('git://') || self.url.startsWith('file://'))"
)
OCI_URL_RULE = "!has(self.type) || self.type != 'oci' || self.url.startsWith('oci://')"
HELM_URL_RULE = (
    "!has(self.type) || self.type != 'helm' || self.url.startsWith('https://') "
    "|| self.url.startsWith('http://')"
)


class RepositoryWebhook(ApiModel):
    """How push webhooks for this repository are verified."""

    secret_ref: LocalObjectReference = Field(
        description=(
            "A Secret in the same namespace whose key token is the webhook secret: the "
            "HMAC key (GitHub, Gitea/Forgejo, Bitbucket, generic), the X-Gitlab-Token "
            "value (GitLab), or the Authorization token (OCI registry notifications)."
        ),
    )


class RepositorySpec(ApiModel):
    """Where the Git repository is and how to reach it."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": INSECURE_URL_RULE,
                    "message": "http://, git:// and file:// URLs need insecure: true",
                },
                {"rule": OCI_URL_RULE, "message": "an oci Repository URL starts with oci://"},
                {"rule": HELM_URL_RULE, "message": "a helm Repository URL starts with https://"},
            ]
        }
    )

    type: RepositoryType = Field(
        default="git",
        description=(
            "git (the default), helm (an HTTP Helm repository with index.yaml) or oci "
            "(an OCI registry path holding Helm charts or plain-manifest artifacts)."
        ),
    )
    url: str = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description=(
            "git: https://host/org/repo.git, ssh://git@host/org/repo.git or "
            "git@host:org/repo.git (http://, git:// and file:// need insecure: true; "
            "file:// also needs the operator to allow the folder, --allow-file-urls). "
            "helm: https://host/path, the folder of index.yaml. oci: oci://host/path."
        ),
    )
    secret_ref: LocalObjectReference | None = Field(
        default=None,
        description=(
            "A Secret in the same namespace with the credentials: username and password, "
            "bearerToken, or identity (an SSH private key), optional passphrase, and "
            "known_hosts. helm and oci read username/password or bearerToken (an OCI "
            "registry's token challenge is answered with them), and ca.crt."
        ),
    )
    interval: Interval = Field(
        default="1m",
        description=(
            "How often to look for new commits, at least 10s. Defaults to 1m. A cached "
            "commit is served only while the credentials were accepted within it."
        ),
    )
    timeout: Duration = Field(
        default="60s", description="Time limit for each network operation. Defaults to 60s."
    )
    insecure: bool = Field(
        default=False,
        description=(
            "Allow unencrypted http://, git:// and file:// URLs (oci: plain-HTTP registry). "
            "Defaults to false."
        ),
    )
    ca_bundle: str | None = Field(
        default=None,
        max_length=65536,
        description=(
            "helm and oci: PEM certificates trusted besides the system's, for a server with "
            "a private CA. A ca.crt key in the secretRef Secret is trusted too."
        ),
    )
    depth: int | None = Field(
        default=None,
        ge=1,
        description="How many commits to fetch per ref; unset means 1 (a shallow fetch).",
    )

    webhook: RepositoryWebhook | None = Field(
        default=None,
        description=(
            "Push webhooks that refresh this Repository at once. Without it only the "
            "receiver's global secret (chart value webhook.secret) can verify them."
        ),
    )

    @model_validator(mode="after")
    def _url_suits_type(self) -> RepositorySpec:
        check_source_url(self.url, self.type, self.insecure)
        if self.depth is not None and self.type != "git":
            raise ValueError("depth applies to git Repositories only")
        return self

    @property
    def interval_seconds(self) -> float:
        """The polling interval in seconds."""
        return parse_duration(self.interval)

    @property
    def timeout_seconds(self) -> float:
        """The per-operation network timeout in seconds."""
        return parse_duration(self.timeout)


class ResolvedRevision(StatusModel):
    """A revision an Application asked for and the commit it resolved to."""

    revision: str = Field(
        description="The revision as the Application wrote it, e.g. main (chart@range for charts)."
    )
    resolved: str = Field(
        description="The resolved form: <ref>@sha1:<40 hex>, or <version>@sha256:<64 hex>."
    )


class RepositoryStatus(StatusModel):
    """What the Repository controller last observed."""

    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Reconciling and Stalled, kstatus style.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation the status describes."
    )
    last_fetch_time: Timestamp | None = Field(
        default=None, description="When the repository was last fetched or checked."
    )
    last_handled_refresh: str | None = Field(
        default=None,
        description="The last tether.dev/refresh annotation value acted on (a fetch was made).",
    )
    revisions: list[ResolvedRevision] = Field(
        default_factory=list,
        description="The revisions Applications follow and what they resolved to.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["revision"],
        },
    )

    def resolved(self, revision: str) -> str | None:
        """The resolved form recorded for ``revision``, or None."""
        return next((r.resolved for r in self.revisions if r.revision == revision), None)


class Repository(ApiModel):
    """A Git repository, Helm repository or OCI registry path that Applications read from."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["tether.dev/v1alpha1"] = "tether.dev/v1alpha1"
    kind: Literal["Repository"] = "Repository"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RepositorySpec
    status: RepositoryStatus | None = None
