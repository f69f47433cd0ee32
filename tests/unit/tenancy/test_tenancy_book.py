"""ProjectBook: the Projects a process knows, and what a missing or invalid one means."""

from __future__ import annotations

from typing import Any

from tether.identity import AppRef
from tether.tenancy import InvalidProject, ProjectBook, ProjectPolicy, Rule, Verdict

APP = AppRef("team-a", "web")


def body(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_put_reports_only_changes_of_what_is_allowed() -> None:
    book = ProjectBook()
    assert book.put(body("p", destinations=["$self"]))
    with_status = {**body("p", destinations=["$self"]), "status": {"conditions": []}}
    assert not book.put(with_status)
    assert book.put(body("p", destinations=["$self", "team-a-*"]))
    policy = book.policy("p", APP)
    assert isinstance(policy, ProjectPolicy) and policy.destinations == ("$self", "team-a-*")


def test_missing_and_deleted_projects_refuse_everything() -> None:
    book = ProjectBook()
    missing = book.policy("p", APP)
    assert isinstance(missing, Verdict) and missing.refusals[0].rule is Rule.PROJECT
    book.put(body("p"))
    assert book.delete("p")
    assert not book.delete("p")
    assert isinstance(book.policy("p", APP), Verdict)


def test_an_invalid_project_refuses_everything_and_says_why() -> None:
    book = ProjectBook()
    assert book.put(body("p", destinations=["$other"]))
    assert isinstance(book.entries["p"], InvalidProject)
    verdict = book.policy("p", APP)
    assert isinstance(verdict, Verdict) and not verdict.allowed
    assert "Project p is invalid" in verdict.summary()
    assert "spec.destinations" in verdict.summary()
