"""Failures reach status with a named reason: the render's duplicate is DuplicateObject."""

from __future__ import annotations

from tether.api.conditions import Reason
from tether.controller.application import failure_problem
from tether.manifests import DuplicateObjectError


def test_the_operator_reports_a_render_duplicate_as_duplicate_object() -> None:
    error = DuplicateObjectError("ConfigMap web", "a.yaml[doc 0]", "b.yaml[doc 0]")
    problem = failure_problem(Reason.RENDER_FAILED, error)
    assert problem.reason is Reason.DUPLICATE_OBJECT
    assert problem.message == "ConfigMap web is declared twice: a.yaml[doc 0] and b.yaml[doc 0]"
