"""Cascade deletion keeps to the Project: a tracked object outside its destinations stays."""

from __future__ import annotations

from tether.appspec import AppSpec
from tether.controller.adapters import _may_delete
from tether.identity import ResourceKey
from tether.tenancy import DEFAULT_POLICY, deny_all


def test_cascade_delete_never_leaves_the_destinations() -> None:
    spec = AppSpec(name="web", namespace="team-a", project=DEFAULT_POLICY)
    assert _may_delete(spec, ResourceKey("", "ConfigMap", "team-a", "mine"))
    assert not _may_delete(spec, ResourceKey("", "ConfigMap", "team-b", "lookalike"))
    assert not _may_delete(spec, ResourceKey("rbac.authorization.k8s.io", "ClusterRole", "", "x"))
    # Without a Project (the CLI), ownership by tracking id is the only rule, as before.
    assert _may_delete(AppSpec(name="web"), ResourceKey("", "ConfigMap", "team-b", "x"))


def test_an_unusable_project_allows_nothing() -> None:
    spec = AppSpec(name="web", namespace="team-a", project=deny_all("gone"))
    assert not _may_delete(spec, ResourceKey("", "ConfigMap", "team-a", "mine"))
