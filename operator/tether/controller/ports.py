"""The seams between the controllers and the engine, as Protocols and plain data.

The controllers never import the engine's internals; they call these ports.
``tether.controller.adapters`` binds them to the real engine (git cache,
renderer, cluster cache, sync executor); unit tests bind them to small fakes.
Every result here is an immutable value in the shape the status needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tether.api.application import Application
from tether.git.auth import GitAuth


@dataclass(frozen=True)
class Resolved:
    """A revision an app follows and the commit it resolved to."""

    revision: str
    commit: str
    ref: str = ""  # the full ref it came from, e.g. refs/heads/main; "" for a pinned SHA
    url: str = ""  # the normalized URL of the repository

    @property
    def display(self) -> str:
        """``<ref>@sha1:<commit>`` (or ``sha1:<commit>``), the form the status shows."""
        return f"{self.ref}@sha1:{self.commit}" if self.ref else f"sha1:{self.commit}"


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
    ) -> Resolved:
        """Resolve and fetch ``revision`` (raises ``tether.git.errors.GitError``).

        ``max_age``: how old a previous acceptance of these credentials for this URL
        may be for a cached commit to be served without asking the server again.
        """
        ...


@dataclass(frozen=True)
class ResourceState:
    """One object of the comparison, in the shape of ``status.resources[]``."""

    kind: str
    name: str
    group: str = ""
    version: str = ""
    namespace: str | None = None
    status: str = "Synced"  # Synced, OutOfSync or Unknown
    health: str | None = None
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
    health: str = "Unknown"
    health_message: str = ""
    conflicts: tuple[str, ...] = ()  # one message per object another app owns
    empty: bool = False

    @property
    def sync_status(self) -> str:
        if any(r.status == "Unknown" for r in self.resources if not r.hook):
            return "Unknown"
        drifted = any(
            r.status == "OutOfSync" or r.requires_pruning for r in self.resources if not r.hook
        )
        return "OutOfSync" if drifted else "Synced"

    def drift_summary(self, limit: int = 3) -> str:
        """A short line naming what drifted, for ``status.message``."""
        out = [r for r in self.resources if not r.hook and r.status == "OutOfSync"]
        prune = [r for r in self.resources if not r.hook and r.requires_pruning]
        parts: list[str] = []
        for r in out[:limit]:
            fields = ", ".join(r.drifted_fields[:3])
            parts.append(
                f"{r.label} ({fields})"
                if fields
                else f"{r.label} (missing)"
                if r.health == "Missing"
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

    phase: str  # Succeeded, Failed or Error
    message: str
    state: Mapping[str, Any] = field(default_factory=dict)
    pruned: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeletionOutcome:
    """Where deleting (or orphaning) an app's objects stands."""

    done: bool
    remaining: tuple[str, ...] = ()
    message: str = ""


PersistStep = Callable[[Mapping[str, Any]], Awaitable[None]]


class AppEngine(Protocol):
    """Render, compare, sync and delete one Application's objects."""

    async def render(self, app: Application, resolved: Resolved) -> list[dict[str, Any]]:
        """Desired objects at ``resolved`` (raises a render error naming file and cause)."""
        ...

    async def compare(
        self, app: Application, resolved: Resolved, desired: Sequence[dict[str, Any]]
    ) -> Comparison: ...

    async def sync(
        self,
        app: Application,
        resolved: Resolved,
        desired: Sequence[dict[str, Any]],
        *,
        prune: bool,
        resume: Mapping[str, Any] | None,
        persist: PersistStep,
    ) -> SyncOutcome: ...

    async def delete(self, app: Application, *, cascade: bool) -> DeletionOutcome:
        """Delete (``cascade``) or orphan (remove tracking from) every object the app owns."""
        ...

    def watch(self, app: Application, wake: Callable[[], None]) -> None:
        """Call ``wake`` when one of the app's live objects changes."""
        ...

    async def forget(self, key: tuple[str, str]) -> None:
        """Stop watching for a deleted app (namespace, name)."""
        ...


class NotPermittedError(Exception):
    """The app's Project refuses something a sync would do; the message says what and why."""
