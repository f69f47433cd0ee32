"""The Application controller with write-back: status, condition, events, source refresh."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from fakes import Harness

from tether.api.application import ApplicationStatus
from tether.appspec import AppSpec
from tether.controller import triggers
from tether.controller.ports import Pushed, PushRequest, Rendered, SourceCommit
from tether.controller.writeback import WriteBackStep
from tether.identity import ResourceKey
from tether.manifests.objects import ObjectSource

WRITE_BACK = {
    "capture": {"fields": [{"kind": "ConfigMap", "pointer": "/data/key"}]},
    "debounce": "0s",
}


class Port:
    def __init__(self) -> None:
        self.value = "v1"
        self.pushes: list[PushRequest] = []

    async def live_of(
        self, app: AppSpec, desired: Rendered
    ) -> tuple[tuple[ResourceKey, Mapping[str, Any] | None], ...]:
        live = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}
        live["data"] = {"key": self.value}
        return tuple((ResourceKey("", "ConfigMap", "ns", "cm"), live) for _ in desired.objects)

    async def unowned(
        self, app: AppSpec, selector: Mapping[str, str], desired: Rendered
    ) -> list[dict[str, Any]]:
        return []

    async def push(self, request: PushRequest) -> Pushed:
        self.pushes.append(request)
        return Pushed("c" * 40, request.branch)


@pytest.fixture
def harness() -> Iterator[tuple[Harness, Port]]:
    h = Harness()
    port = Port()
    h.apps.write_back = WriteBackStep(port, clock=lambda: h.now)

    async def render(app: Any, resolved: SourceCommit) -> Rendered:
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}
        cm["data"] = {"key": "v1"}
        return Rendered((cm,), ("cm.yaml[doc 0]",), (ObjectSource("app/cm.yaml", 0),))

    h.engine.render = render  # type: ignore[method-assign]
    yield h, port


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or ()}


async def test_a_capture_is_pushed_reported_and_the_source_read_again(
    harness: tuple[Harness, Port],
) -> None:
    h, port = harness
    repo = h.add_repo()
    key = h.add_app(writeBack=WRITE_BACK)
    await h.repos.reconcile(repo, frozenset({triggers.CREATED}))
    await h.apps.reconcile(key, frozenset())
    status = h.app(key)["status"]
    assert "WriteBack" not in conditions(status) and port.pushes == []

    port.value = "v2"  # someone edits the ConfigMap live
    await h.apps.reconcile(key, frozenset({triggers.DRIFT}))
    [request] = port.pushes
    assert request.branch == "main" and request.access.url == "https://git.example/r.git"
    status = h.app(key)["status"]
    found = conditions(status)["WriteBack"]
    assert (found["status"], found["reason"]) == ("True", "Pushed")
    assert status["writeBack"]["lastCommit"] == "c" * 40
    assert status["writeBack"]["pending"] == ["ConfigMap ns/cm /data/key"]
    assert "WriteBackPushed" in h.event_reasons()
    assert (repo, triggers.REFRESH) in h.woken_repos
    ApplicationStatus.model_validate(status)

    # writeBack removed from the spec: the block and the condition go.
    h.edit_app(key, lambda body: body["spec"].pop("writeBack"))
    await h.apps.reconcile(key, frozenset({triggers.SPEC_CHANGED}))
    status = h.app(key)["status"]
    assert "writeBack" not in status and "WriteBack" not in conditions(status)


async def test_an_app_following_a_tag_is_told_so_and_nothing_is_pushed(
    harness: tuple[Harness, Port],
) -> None:
    h, port = harness
    real = h.git.resolve

    async def as_tag(url: str, revision: str, **kwargs: Any) -> SourceCommit:
        found = await real(url, revision, **kwargs)
        return SourceCommit(revision, found.commit, f"refs/tags/{revision}", url)

    h.git.resolve = as_tag  # type: ignore[method-assign]
    repo = h.add_repo()
    key = h.add_app(writeBack=WRITE_BACK)
    await h.repos.reconcile(repo, frozenset({triggers.CREATED}))
    port.value = "v2"
    await h.apps.reconcile(key, frozenset())
    found = conditions(h.app(key)["status"])["WriteBack"]
    assert (found["status"], found["reason"]) == ("False", "RevisionNotBranch")
    assert "refs/tags/main" in found["message"] and port.pushes == []
