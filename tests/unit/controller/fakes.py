"""Small in-memory stand-ins for the controller ports (unit tests of pure logic only)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tether.controller import events as ev
from tether.controller.application import ApplicationController, AppPorts, Neighbours
from tether.controller.metrics import Metrics
from tether.controller.ports import (
    Comparison,
    DeletionOutcome,
    Rendered,
    ResourceState,
    SourceCommit,
    SyncOutcome,
)
from tether.controller.repository import RepositoryController
from tether.controller.runtime import Runtime
from tether.controller.status import StatusWriter
from tether.diff.jsonmerge import apply_merge_patch as apply_merge
from tether.engine.model import SyncStatus
from tether.git import errors as gerr
from tether.health import HealthStatus
from tether.sync.state import OperationPhase

Key = tuple[str, str]


def synced(revision: str) -> Comparison:
    return Comparison(
        revision,
        (
            ResourceState(
                "ConfigMap", "cm", version="v1", namespace="ns", health=HealthStatus.HEALTHY
            ),
        ),
        health=HealthStatus.HEALTHY,
    )


def drifted(revision: str, fields: tuple[str, ...] = ("/data/key",)) -> Comparison:
    return Comparison(
        revision,
        (
            ResourceState(
                "ConfigMap",
                "cm",
                version="v1",
                namespace="ns",
                status=SyncStatus.OUT_OF_SYNC,
                health=HealthStatus.HEALTHY,
                drifted_fields=fields,
            ),
        ),
        health=HealthStatus.HEALTHY,
    )


class FakeGit:
    def __init__(self) -> None:
        self.commits: dict[str, str] = {"main": "a" * 40}
        self.error: Exception | None = None
        self.calls: list[tuple[str, str, Any]] = []
        self.max_ages: list[float] = []

    async def resolve(
        self,
        url: str,
        revision: str,
        *,
        auth: Any,
        insecure: bool,
        timeout: float,
        max_age: float = 0.0,
    ) -> SourceCommit:
        self.calls.append((url, revision, auth))
        self.max_ages.append(max_age)
        if self.error is not None:
            raise self.error
        if revision not in self.commits:
            raise gerr.RefNotFoundError("no such branch", url=url, ref=revision)
        return SourceCommit(revision, self.commits[revision], f"refs/heads/{revision}", url)


@dataclass
class FakeEngine:
    comparison: Callable[[str], Comparison] = synced
    after_sync: Callable[[str], Comparison] | None = synced
    sync_phase: OperationPhase = OperationPhase.SUCCEEDED
    render_error: Exception | None = None
    compare_error: Exception | None = None
    syncs: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[bool] = field(default_factory=list)
    delete_done: bool = True
    wakers: dict[str, Callable[[], None]] = field(default_factory=dict)
    persisted: list[Mapping[str, Any]] = field(default_factory=list)

    async def render(self, app: Any, resolved: SourceCommit) -> Rendered:
        if self.render_error is not None:
            raise self.render_error
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}
        return Rendered((cm,), ("cm.yaml[doc 1]",))

    async def compare(
        self, app: Any, resolved: SourceCommit, desired: Sequence[dict[str, Any]]
    ) -> Comparison:
        if self.compare_error is not None:
            raise self.compare_error
        return self.comparison(resolved.display)

    async def sync(
        self,
        app: Any,
        resolved: SourceCommit,
        desired: Any,
        *,
        prune: bool,
        resume: Any,
        persist: Any,
    ) -> SyncOutcome:
        self.syncs.append({"revision": resolved.display, "prune": prune, "resume": resume})
        await persist({"planId": "p1", "phase": "Running", "nextStep": 1})
        self.persisted.append({"nextStep": 1})
        if self.sync_phase is OperationPhase.SUCCEEDED and self.after_sync is not None:
            self.comparison = self.after_sync
        return SyncOutcome(
            self.sync_phase,
            "done" if self.sync_phase is OperationPhase.SUCCEEDED else "apply failed",
            {"planId": "p1", "phase": str(self.sync_phase)},
        )

    async def delete(self, app: Any, *, cascade: bool, kinds: Any = frozenset()) -> DeletionOutcome:
        self.deletes.append(cascade)
        if self.delete_done:
            return DeletionOutcome(True)
        return DeletionOutcome(
            False,
            ("ConfigMap ns/cm",),
            "1 object(s) still present: ConfigMap ns/cm (1 held by finalizers)",
        )

    def watch(self, app: Any, wake: Callable[[], None]) -> None:
        self.wakers[app.name] = wake

    async def forget(self, key: Key) -> None:
        self.wakers.pop(key[1], None)


class ApiServer:
    """Holds bodies and applies status/metadata merge patches, counting them."""

    def __init__(self, runtime: Runtime, kind: str) -> None:
        self.runtime = runtime
        self.kind = kind
        self.status_patches: list[tuple[Key, dict[str, Any]]] = []
        self.meta_patches: list[tuple[Key, dict[str, Any]]] = []

    def _store(self) -> Any:
        return self.runtime.apps if self.kind == "app" else self.runtime.repos

    async def patch_status(self, key: Key, patch: dict[str, Any]) -> dict[str, Any] | None:
        self.status_patches.append((key, patch))
        body = self._store().get(key)
        if body is not None:
            body = {**body, "status": apply_merge(body.get("status") or {}, patch)}
            self._store().put(body)
        return body

    async def patch_metadata(self, key: Key, patch: dict[str, Any]) -> None:
        self.meta_patches.append((key, patch))
        body = self._store().get(key)
        if body is not None:
            self._store().put(apply_merge(body, patch))


class Secrets:
    def __init__(self) -> None:
        self.data: dict[Key, dict[str, bytes]] = {}

    async def read(self, namespace: str, name: str) -> Mapping[str, bytes] | None:
        return self.data.get((namespace, name))


class Harness:
    def __init__(self) -> None:
        self.runtime = Runtime()
        self.git = FakeGit()
        self.engine = FakeEngine()
        self.secrets = Secrets()
        self.sink = ev.ListSink()
        self.events = ev.EventRecorder(self.sink, quiet_seconds=0)
        self.metrics = Metrics()
        self.app_api = ApiServer(self.runtime, "app")
        self.repo_api = ApiServer(self.runtime, "repo")
        self.woken_apps: list[tuple[Key, str]] = []
        self.woken_repos: list[tuple[Key, str]] = []
        self.now = 1_000_000.0

        def wake_app(key: Key, reason: str) -> None:
            self.woken_apps.append((key, reason))

        def wake_repo(key: Key, reason: str) -> None:
            self.woken_repos.append((key, reason))

        self.repos = RepositoryController(
            store=self.runtime.repos,
            git=self.git,
            secrets=self.secrets,
            writer=StatusWriter(self.repo_api),
            queue=self.runtime.repo_queue,
            events=self.events,
            metrics=self.metrics,
            wanted=self.runtime.wanted_revisions,
            following=self.runtime.apps_following,
            wake_app=wake_app,
        )
        self.apps = ApplicationController(
            AppPorts(
                engine=self.engine,
                git=self.git,
                writer=StatusWriter(self.app_api),
                meta=self.app_api,
                events=self.events,
                metrics=self.metrics,
            ),
            Neighbours(
                store=self.runtime.apps,
                queue=self.runtime.app_queue,
                repo_state=self.repos.state,
                repo_exists=lambda key: self.runtime.repos.get(key) is not None,
                wake_repo=wake_repo,
                projects=self.runtime.projects,
                repo_url=self.runtime.repo_url,
            ),
            clock=lambda: self.now,
        )
        # Controller tests are about the controller: a Project that allows everything.
        self.runtime.on_project_event("ADDED", OPEN_PROJECT)

    def add_repo(
        self,
        name: str = "repo",
        *,
        secret: str | None = None,
        url: str = "https://git.example/r.git",
    ) -> Key:
        spec: dict[str, Any] = {"url": url, "interval": "1m"}
        if secret:
            spec["secretRef"] = {"name": secret}
        body = {
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "Repository",
            "metadata": {"namespace": "ns", "name": name, "generation": 1, "uid": "r-uid"},
            "spec": spec,
        }
        self.runtime.on_repo_event(None, body)
        return ("ns", name)

    def add_app(
        self,
        name: str = "web",
        *,
        automated: dict[str, Any] | None = None,
        revision: str = "main",
        **spec: Any,
    ) -> Key:
        sync_policy: dict[str, Any] = {}
        if automated is not None:
            sync_policy["automated"] = automated
        body = {
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "Application",
            "metadata": {"namespace": "ns", "name": name, "generation": 1, "uid": f"{name}-uid"},
            "spec": {
                "source": {"repositoryRef": {"name": "repo"}, "revision": revision, "path": "app"},
                "syncPolicy": sync_policy,
                **spec,
            },
        }
        self.runtime.on_app_event(None, body)
        return ("ns", name)

    def app(self, key: Key) -> dict[str, Any]:
        body = self.runtime.apps.get(key)
        assert body is not None
        return body

    def edit_app(self, key: Key, fn: Callable[[dict[str, Any]], None]) -> None:
        import copy

        body = copy.deepcopy(self.app(key))
        fn(body)
        self.runtime.on_app_event("MODIFIED", body)

    def event_reasons(self) -> list[str]:
        return [e["reason"] for e in self.sink.events]


OPEN_PROJECT: dict[str, Any] = {
    "apiVersion": "tether.dev/v1alpha1",
    "kind": "Project",
    "metadata": {"name": "default"},
    "spec": {
        "sourceRepositories": ["*"],
        "destinations": ["*"],
        "clusterResources": [{"group": "*", "kind": "*"}],
        "applicationNamespaces": ["*"],
    },
}
