"""The Project model: scope and defaults (its CEL agreement is in test_api_crds)."""

from __future__ import annotations

from tether.api import parse_application, parse_project
from tether.api.crd import crd_manifests


def test_project_crd_is_cluster_scoped() -> None:
    (crd,) = [c for c in crd_manifests() if c["spec"]["names"]["kind"] == "Project"]
    assert crd["spec"]["scope"] == "Cluster"
    assert crd["metadata"]["name"] == "projects.tether.dev"


def test_empty_lists_allow_nothing_but_namespaced_kinds_default_to_all() -> None:
    spec = parse_project({"metadata": {"name": "p"}, "spec": {}}).spec
    assert spec.source_repositories == []
    assert spec.destinations == []
    assert spec.cluster_resources == []
    assert spec.application_namespaces == []
    assert [(r.group, r.kind) for r in spec.namespace_resources.allow] == [("*", "*")]
    assert spec.namespace_resources.deny == []
    assert spec.service_account is None


def test_application_project_defaults_to_default() -> None:
    app = parse_application(
        {
            "metadata": {"name": "a", "namespace": "n"},
            "spec": {"source": {"repoURL": "https://h/r"}},
        }
    )
    assert app.spec.project == "default"
