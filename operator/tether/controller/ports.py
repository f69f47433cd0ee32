"""The seams between the controllers and the engine, as Protocols and plain data.

The controllers never import the engine's internals; they call these ports.
``tether.controller.adapters`` binds them to the real engine (git cache,
renderer, cluster cache, sync executor); unit tests bind them to small fakes.
Every result here is an immutable value in the shape the status needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tether.api.conditions import Reason
from tether.appspec import AppSpec
from tether.engine.model import SyncStatus
from tether.git.auth import GitAuth
from tether.health import HealthStatus
from tether.identity import ResourceKey
from tether.kube.resource import GVK
from tether.manifests.objects import ObjectSource
from tether.sources import Access, Artifact, SourceRequest
from tether.sync.state import OperationPhase
from tether.writeback.edits import EditPlan


@dataclass(frozen=True)
class SourceCommit:
    """A revision an app follows and the commit it resolved to."""

    revision: str
    commit: str
    ref: str = ""  # the full ref it came from, e.g. refs/heads/main; "" for a pinned SHA
    url: str = ""  # the normalized URL of the repository
    artifact: Artifact | None = None  # helm/oci: the chart or artifact; commit is its digest
    # spec.sources: each source's resolved revision, in order; commit then digests them all
    parts: tuple[SourceCommit, ...] = ()

    @property
    def display(self) -> str:
        """``<ref>@sha1:<commit>`` (or ``sha1:<commit>``), or ``<version>@sha256:<digest>``.

        A multi-source app's is each source's, joined by ``,`` in the sources' order.
        """
        if self.parts:
            return ",".join(part.display for part in self.parts)
        if self.artifact is not None:
            return self.artifact.display
        return f"{self.ref}@sha1:{self.commit}" if self.ref else f"sha1:{self.commit}"

    @classmethod
    def of_parts(cls, parts: Sequence[SourceCommit]) -> SourceCommit:
        """One resolved revision of a multi-source app: it moves when any part moves."""
        digest = hashlib.sha256("\n".join(part.display for part in parts).encode()).hexdigest()
        return cls("sources", digest[:40], parts=tuple(parts))

    @classmethod
    def of_artifact(cls, key: str, artifact: Artifact) -> SourceCommit:
        """The resolved form of a chart or artifact that an app asked for as ``key``."""
        return cls(key, artifact.digest, artifact.version, artifact.url, artifact)


class GitSource(Protocol):
    """Resolves revisions of one URL; ``render`` reads the tree of a commit."""

    async def resolve(
        self,
        url: str,
        revision: str,
        *,
        auth: GitAuth | None,
        insecure: bool,
        timeout: float,
        max_age: float = 0.0,
    ) -> SourceCommit:
        """Resolve and fetch ``revision`` (raises ``tether.git.errors.GitError``).

        ``max_age``: how old a previous acceptance of these credentials for this URL
        may be for a cached commit to be served without asking the server again.
        """
        ...


class ChartSource(Protocol):
    """Resolves charts and artifacts of helm and oci Repositories (``tether.sources``)."""

    async def resolve(self, key: str, request: SourceRequest, access: Access) -> SourceCommit:
        """Resolve and download (raises ``tether.sources.errors.SourceError``)."""
        ...

    async def probe(self, request: SourceRequest, access: Access) -> None:
        """Check that the repository answers these credentials (the index or registry)."""
        ...


@dataclass(frozen=True)
class Rendered:
    """What a source rendered to, and where each object came from (``file[doc N]``).

    ``origins`` are the same places as values (for write-back edits), ``renderer``
    the renderer used (directory, kustomize, helm). ``variant`` is "" for a render
    as Git has it, else a digest of the live values write-back laid over it (so the
    engine's memo, keyed by commit, tells the two apart).
    """

    objects: tuple[dict[str, Any], ...] = ()
    sources: tuple[str, ...] = ()
    origins: tuple[ObjectSource, ...] = ()
    renderer: str = ""
    variant: str = ""
    render_key: str = ""  # what the render is a function of besides the spec ("": the commit)


@dataclass(frozen=True)
class ResourceState:
    """One object of the comparison, in the shape of ``status.resources[]``."""

    kind: str
    name: str
    group: str = ""
    version: str = ""
    namespace: str | None = None
    status: SyncStatus = SyncStatus.SYNCED
    health: HealthStatus | None = None
    health_message: str = ""
    wave: int = 0
    requires_pruning: bool = False
    hook: bool = False
    drifted_fields: tuple[str, ...] = ()
    message: str = ""

    @property
    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


@dataclass(frozen=True)
class Comparison:
    """What comparing the render with the live cluster found."""

    revision: str
    resources: tuple[ResourceState, ...] = ()
    health: HealthStatus = HealthStatus.UNKNOWN
    health_message: str = ""
    conflicts: tuple[str, ...] = ()  # one message per object another app owns
    empty: bool = False
    revisions: tuple[str, ...] = ()  # spec.sources: each source's resolved revision

    @property
    def sync_state(self) -> dict[str, Any]:
        """``status.sync``: the verdict, the revision, and each source's revision."""
        sync: dict[str, Any] = {"status": str(self.sync_status), "revision": self.revision}
        if self.revisions:
            sync["revisions"] = list(self.revisions)
        return sync

    @property
    def sync_status(self) -> SyncStatus:
        tracked = [r for r in self.resources if not r.hook]
        if any(r.status is SyncStatus.UNKNOWN for r in tracked):
            return SyncStatus.UNKNOWN
        drifted = any(r.status is SyncStatus.OUT_OF_SYNC or r.requires_pruning for r in tracked)
        return SyncStatus.OUT_OF_SYNC if drifted else SyncStatus.SYNCED

    def drift_summary(self, limit: int = 3) -> str:
        """A short line naming what drifted, for ``status.message``."""
        out = [r for r in self.resources if not r.hook and r.status is SyncStatus.OUT_OF_SYNC]
        prune = [r for r in self.resources if not r.hook and r.requires_pruning]
        parts: list[str] = []
        for r in out[:limit]:
            fields = ", ".join(r.drifted_fields[:3])
            parts.append(
                f"{r.label} ({fields})"
                if fields
                else f"{r.label} (missing)"
                if r.health is HealthStatus.MISSING
                else r.label
            )
        if len(out) > limit:
            parts.append(f"and {len(out) - limit} more")
        text = ""
        if parts:
            text = f"{len(out)} out of sync: " + "; ".join(parts)
        if prune:
            text += ("; " if text else "") + f"{len(prune)} to prune"
        return text


@dataclass(frozen=True)
class SyncOutcome:
    """How a sync ended. ``state`` is the final persisted operation record."""

    phase: OperationPhase  # Succeeded, Failed or Error
    message: str
    state: Mapping[str, Any] = field(default_factory=dict)
    pruned: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    adopted: tuple[str, ...] = ()  # objects that existed untracked and are now the app's
    prune_skipped: tuple[str, ...] = ()  # why each non-empty Namespace was not pruned


@dataclass(frozen=True)
class DeletionOutcome:
    """Where deleting (or orphaning) an app's objects stands."""

    done: bool
    remaining: tuple[str, ...] = ()
    message: str = ""


PersistStep = Callable[[Mapping[str, Any]], Awaitable[None]]


class AppEngine(Protocol):
    """Render, compare, sync and delete one app's objects, given its ``AppSpec``."""

    async def render(self, app: AppSpec, resolved: SourceCommit) -> Rendered:
        """Desired objects at ``resolved`` (raises a render error naming file and cause)."""
        ...

    async def compare(self, app: AppSpec, resolved: SourceCommit, desired: Rendered) -> Comparison:
        """Compare with live; raises an error with a ``reason`` when objects are rejected."""
        ...

    async def sync(
        self,
        app: AppSpec,
        resolved: SourceCommit,
        desired: Rendered,
        *,
        prune: bool,
        resume: Mapping[str, Any] | None,
        persist: PersistStep,
    ) -> SyncOutcome: ...

    async def delete(
        self, app: AppSpec, *, cascade: bool, kinds: frozenset[GVK] = frozenset()
    ) -> DeletionOutcome:
        """Delete (``cascade``) or orphan (remove tracking from) every object the app owns.

        ``kinds`` are the kinds the last status listed, watched so none is missed.
        """
        ...

    def watch(self, app: AppSpec, wake: Callable[[], None]) -> None:
        """Call ``wake`` when one of the app's live objects changes."""
        ...

    async def forget(self, key: tuple[str, str]) -> None:
        """Stop watching for a deleted app (namespace, name)."""
        ...


@dataclass(frozen=True, repr=False)
class RepoAccess:
    """How to reach a repository to push: URL, credentials, signing key, settings.

    ``repr`` is off: the credentials never reach a log line by accident.
    """

    url: str
    auth: GitAuth | None
    insecure: bool = False
    timeout: float = 60.0
    signing_key: bytes | None = None


@dataclass(frozen=True)
class PushRequest:
    """One write-back commit: where it goes, what it edits, who signs it and how."""

    access: RepoAccess
    branch: str
    plan: EditPlan
    author_name: str
    author_email: str
    message: str
    push_branch: str | None = None
    lease: str | None = None  # for push_branch: the commit Tether last pushed there


@dataclass(frozen=True)
class Pushed:
    """What a push did: the commit (the tip when nothing changed) and the branch."""

    commit: str
    branch: str
    changed: bool = True


class WriteBackPort(Protocol):
    """What write-back reads from the cluster and how it pushes (``adapters`` binds it)."""

    async def live_of(
        self, app: AppSpec, desired: Rendered
    ) -> tuple[tuple[ResourceKey, Mapping[str, Any] | None], ...]:
        """Each desired object's key and live copy (None when absent), in render order."""
        ...

    async def unowned(
        self, app: AppSpec, selector: Mapping[str, str], desired: Rendered
    ) -> list[dict[str, Any]]:
        """Live objects in the destination carrying every ``selector`` label."""
        ...

    async def push(self, request: PushRequest) -> Pushed:
        """Commit ``request.plan`` on the branch tip and push it (raises WriteBackError)."""
        ...


class NotPermittedError(Exception):
    """The app's Project refuses something a sync would do; the message says what and why."""

    reason = Reason.NOT_PERMITTED
