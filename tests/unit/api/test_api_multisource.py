"""spec.sources: the model's rules and the CRD's CEL rules that mirror them."""

from __future__ import annotations

from typing import Any

import pytest

from tether.api import InvalidObjectError, parse_application
from tether.api.crd import crd_manifests
from tether.appspec import spec_of

CHART = {"repositoryRef": {"name": "charts"}, "chart": "podinfo", "revision": "6.*"}
VALUES = {"repositoryRef": {"name": "config"}, "revision": "main", "ref": "values"}


def app(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "namespace": "team-a", "generation": 3},
        "spec": spec,
    }


def refused(obj: dict[str, Any]) -> str:
    with pytest.raises(InvalidObjectError) as info:
        parse_application(obj)
    return str(info.value)


def test_a_chart_with_values_from_git_becomes_two_sources_in_order() -> None:
    chart = {**CHART, "helm": {"valueFiles": ["$values/web/values.yaml"]}}
    spec = spec_of(parse_application(app(sources=[chart, VALUES])))
    assert [s.repository for s in spec.all_sources] == ["charts", "config"]
    assert spec.source == spec.sources[0]
    assert spec.sources[0].render.helm.value_files == ("$values/web/values.yaml",)
    assert spec.sources[1].ref == "values" and not spec.sources[1].renders
    assert spec.sources[0].renders


def test_a_single_source_app_has_no_sources_and_one_source() -> None:
    spec = spec_of(parse_application(app(source={"repositoryRef": {"name": "config"}})))
    assert spec.sources == () and spec.all_sources == (spec.source,)


def test_source_and_sources_together_or_neither_are_refused() -> None:
    assert "found both" in refused(app(source=CHART, sources=[CHART]))
    assert "found neither" in refused(app())


def test_empty_sources_are_refused() -> None:
    assert "sources" in refused(app(sources=[]))


def test_duplicate_refs_are_refused() -> None:
    assert "ref 'values' is given to two sources" in refused(app(sources=[VALUES, VALUES]))


def test_a_value_file_naming_no_ref_is_refused_naming_the_reference() -> None:
    chart = {**CHART, "helm": {"valueFiles": ["$vals/values.yaml"]}}
    assert "'$vals/values.yaml' names no source's ref" in refused(app(sources=[chart, VALUES]))


@pytest.mark.parametrize("name", ["$values/../../etc/passwd", "$values/", "$/x.yaml"])
def test_a_ref_value_file_leaving_its_tree_is_refused(name: str) -> None:
    chart = {**CHART, "helm": {"valueFiles": [name]}}
    assert "must be $ref/path" in refused(app(sources=[chart, VALUES]))


def test_ref_on_the_single_source_is_refused() -> None:
    assert "ref is only for spec.sources" in refused(app(source=VALUES))


def test_write_back_needs_a_single_source() -> None:
    obj = app(
        sources=[CHART, VALUES], writeBack={"capture": {"newObjects": {"matchLabels": {"a": "b"}}}}
    )
    assert "writeBack needs a single source" in refused(obj)


def test_the_crd_says_source_and_sources_exclude_each_other() -> None:
    crd = next(c for c in crd_manifests() if c["spec"]["names"]["kind"] == "Application")
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]
    rules = {rule["rule"] for rule in spec["x-kubernetes-validations"]}
    assert "has(self.source) != has(self.sources)" in rules
    assert "source" not in spec.get("required", [])
    assert spec["properties"]["sources"]["minItems"] == 1
    assert "ref" in spec["properties"]["sources"]["items"]["properties"]
