"""The Application controller and Projects: refusals before anything is read or written,
and a Project change waking the apps that name it."""

from __future__ import annotations

from typing import Any

from fakes import OPEN_PROJECT, Harness

from tether.controller import triggers
from tether.controller.ports import NotPermittedError


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or ()}


def project(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name},
        "spec": spec,
    }


async def test_missing_project_is_not_permitted_and_nothing_is_fetched() -> None:
    h = Harness()
    h.add_repo()
    key = h.add_app(project="team-z")
    await h.apps.reconcile(key, frozenset())
    ready = conditions(h.app(key)["status"])["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "NotPermitted")
    assert "Project team-z does not exist" in ready["message"]
    assert h.engine.syncs == [] and h.woken_repos == []


async def test_repository_url_outside_source_repositories_is_refused_before_fetching() -> None:
    h = Harness()
    h.add_repo(url="https://git.example/team-b/r.git")
    h.runtime.on_project_event(
        "ADDED",
        project(
            "team",
            sourceRepositories=["https://git.example/team-a/*"],
            destinations=["$self"],
            applicationNamespaces=["ns"],
        ),
    )
    key = h.add_app(project="team")
    await h.apps.reconcile(key, frozenset())
    ready = conditions(h.app(key)["status"])["Ready"]
    assert ready["reason"] == "NotPermitted"
    assert "Repository repo https://git.example/team-b/r.git" in ready["message"]
    assert "rule sourceRepositories" in ready["message"]
    assert h.woken_repos == []


async def test_cross_namespace_repository_ref_is_refused() -> None:
    h = Harness()
    key = h.add_app(source={"repositoryRef": {"name": "private", "namespace": "team-b"}})
    await h.apps.reconcile(key, frozenset())
    ready = conditions(h.app(key)["status"])["Ready"]
    assert ready["reason"] == "NotPermitted" and "rule repositoryRef" in ready["message"]


async def test_engine_refusal_becomes_not_permitted_without_a_sync() -> None:
    h = Harness()
    h.add_repo()
    key = h.add_app(automated={"prune": True})
    repo_key = ("ns", "repo")
    await h.repos.reconcile(repo_key, frozenset())

    async def refuse(*_a: Any, **_k: Any) -> Any:
        raise NotPermittedError(
            "not permitted: ConfigMap other/x [Project default, rule destinations]"
        )

    h.engine.compare = refuse  # type: ignore[method-assign]
    await h.apps.reconcile(key, frozenset())
    ready = conditions(h.app(key)["status"])["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "NotPermitted")
    assert "ConfigMap other/x" in ready["message"]
    assert h.engine.syncs == []


def test_a_project_change_wakes_exactly_its_apps() -> None:
    h = Harness()
    h.add_app("a", project="team")
    h.add_app("b")
    woken: list[tuple[Any, str]] = []
    h.runtime.app_queue.wake = lambda key, reason: woken.append((key, reason))  # type: ignore[method-assign]
    h.runtime.on_project_event("ADDED", project("team", destinations=["$self"]))
    assert woken == [(("ns", "a"), triggers.PROJECT)]
    woken.clear()
    h.runtime.on_project_event(
        "MODIFIED", {**project("team", destinations=["$self"]), "status": {}}
    )
    assert woken == []  # nothing it allows changed
    h.runtime.on_project_event("MODIFIED", {**OPEN_PROJECT, "spec": {"destinations": ["*"]}})
    assert woken == [(("ns", "b"), triggers.PROJECT)]
    woken.clear()
    h.runtime.on_project_event("DELETED", project("team"))
    assert woken == [(("ns", "a"), triggers.PROJECT)]
