"""Runtime maps a multi-source app to every Repository it follows, and wakes it on each."""

from __future__ import annotations

from typing import Any

from tether.controller.runtime import Runtime, followed


def multi_app(generation: int = 1, values_revision: str = "main") -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "namespace": "ns", "generation": generation},
        "spec": {
            "sources": [
                {"repositoryRef": {"name": "charts"}, "chart": "web", "revision": "1.x"},
                {"repositoryRef": {"name": "config"}, "revision": values_revision, "ref": "v"},
            ]
        },
    }


def test_each_source_is_followed() -> None:
    assert followed(multi_app()) == (("charts", "web@1.x"), ("config", "main"))
    assert followed({"spec": {}}) == ()  # invalid: follows nothing, the controller says why


def test_both_repositories_want_their_revision_and_wake_the_app() -> None:
    runtime = Runtime()
    runtime.on_app_event("ADDED", multi_app())
    assert runtime.wanted_revisions(("ns", "charts")) == {"web@1.x"}
    assert runtime.wanted_revisions(("ns", "config")) == {"main"}
    assert runtime.apps_following(("ns", "config"), "main") == [("ns", "web")]
    assert runtime.apps_following(("ns", "charts"), None) == [("ns", "web")]
    assert runtime.apps_following(("ns", "config"), "dev") == []


async def test_a_changed_source_wakes_its_repository() -> None:
    runtime = Runtime()
    runtime.on_app_event("ADDED", multi_app())
    assert len(runtime.repo_queue) == 0  # a new app: Repositories hear of it as they run
    runtime.on_app_event("MODIFIED", multi_app(generation=2, values_revision="dev"))
    assert runtime.wanted_revisions(("ns", "config")) == {"dev"}
    assert len(runtime.repo_queue) == 1  # config only: the chart's source did not change
    key, _ = await runtime.repo_queue.get()
    assert key == ("ns", "config")
