"""The generated CRDs: structural, complete, up to date, and agreeing with the models."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import celpy
import pytest
from click.testing import CliRunner
from pydantic import BaseModel
from ruamel.yaml import YAML

from tether.api import (
    InvalidObjectError,
    crd_manifests,
    crds_yaml,
    parse_application,
    parse_project,
)
from tether.api.crd import crd_filename, crd_yaml
from tether.api.schema import SchemaConversionError, structural_schema
from tether.cli.crds import crds

ROOT = Path(__file__).resolve().parents[3]
FIX = "run `python scripts/gen_crds.py` and commit the result"


def by_kind() -> dict[str, dict[str, Any]]:
    return {c["spec"]["names"]["kind"]: c for c in crd_manifests()}


def schema_of(kind: str) -> dict[str, Any]:
    return by_kind()[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def walk(node: dict[str, Any], path: str = "$"):
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}.*")


@pytest.mark.parametrize("kind", ["Application", "Repository", "Project"])
def test_schema_is_structural(kind: str) -> None:
    for path, node in walk(schema_of(kind)):
        assert "$ref" not in node and "allOf" not in node and "oneOf" not in node, path
        typed = "type" in node
        int_or_string = node.get("x-kubernetes-int-or-string") is True
        free = node.get("x-kubernetes-preserve-unknown-fields") is True
        assert typed or int_or_string or free, f"{path} has no type"
        if "anyOf" in node:
            assert int_or_string and node["anyOf"] == [{"type": "integer"}, {"type": "string"}], (
                path
            )
        assert not ("properties" in node and "additionalProperties" in node), path
        assert node.get("additionalProperties") is not False, path
        for name in node.get("required", []):
            assert name in node.get("properties", {}), f"{path} requires unknown {name}"
        assert not {"title", "default", "const", "exclusiveMinimum"} & set(node), path


@pytest.mark.parametrize("kind", ["Application", "Repository", "Project"])
def test_every_spec_and_status_field_is_described(kind: str) -> None:
    schema = schema_of(kind)
    for part in ("spec", "status"):
        for path, node in walk(schema["properties"][part], f"$.{part}"):
            if not path.endswith("[]") and not path.endswith(".*"):
                assert node.get("description"), f"{path} has no description"


def test_free_form_fields_preserve_unknown_fields() -> None:
    source = schema_of("Application")["properties"]["spec"]["properties"]["source"]
    helm = source["properties"]["helm"]["properties"]
    assert helm["values"] == {
        "description": helm["values"]["description"],
        "x-kubernetes-preserve-unknown-fields": True,
    }
    patches = source["properties"]["kustomize"]["properties"]["patches"]["items"]
    assert patches == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    plan = schema_of("Application")["properties"]["status"]["properties"]["operationState"]
    assert plan["properties"]["plan"]["x-kubernetes-preserve-unknown-fields"] is True
    assert helm["parameters"]["items"]["properties"]["value"]["x-kubernetes-int-or-string"]


def test_status_fields_the_controller_writes_are_declared() -> None:
    status = schema_of("Application")["properties"]["status"]["properties"]
    for name in (
        "sync",
        "health",
        "conditions",
        "observedGeneration",
        "resources",
        "operationState",
        "history",
        "reconciledAt",
        "message",
    ):
        assert name in status
    resource = status["resources"]["items"]["properties"]
    for name in (
        "group",
        "version",
        "kind",
        "namespace",
        "name",
        "status",
        "health",
        "wave",
        "requiresPruning",
        "hook",
        "driftedFields",
    ):
        assert name in resource
    assert status["history"]["maxItems"] == 10
    repo = schema_of("Repository")["properties"]["status"]["properties"]
    assert set(repo) >= {"conditions", "observedGeneration", "lastFetchTime", "revisions"}


def test_names_subresources_and_columns() -> None:
    app, repo = by_kind()["Application"], by_kind()["Repository"]
    assert app["metadata"]["name"] == "applications.tether.dev"
    assert app["spec"]["names"]["shortNames"] == ["app", "apps"]
    assert repo["spec"]["names"]["shortNames"] == ["repo", "repos"]
    for crd in (app, repo):
        assert crd["spec"]["scope"] == "Namespaced"
        assert crd["spec"]["names"]["categories"] == ["tether"]
        (version,) = crd["spec"]["versions"]
        assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
        assert version["subresources"] == {"status": {}}
    columns = {
        c["name"]: (c["jsonPath"], c.get("priority", 0))
        for c in app["spec"]["versions"][0]["additionalPrinterColumns"]
    }
    assert columns == {
        "Sync": (".status.sync.status", 0),
        "Health": (".status.health.status", 0),
        "Revision": (".status.sync.revision", 0),
        "Age": (".metadata.creationTimestamp", 0),
        "Message": (".status.message", 1),
    }
    repo_columns = [c["name"] for c in repo["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert repo_columns[:3] == ["Ready", "URL", "Age"]


def test_unions_other_than_optional_are_refused() -> None:
    class Bad(BaseModel):
        x: int | str

    with pytest.raises(SchemaConversionError, match="unions other than Optional"):
        structural_schema(Bad)


def test_unknown_schema_keywords_are_refused() -> None:
    from pydantic import Field

    class Bad(BaseModel):
        x: int = Field(gt=0)

    with pytest.raises(SchemaConversionError, match="exclusiveMinimum"):
        structural_schema(Bad)


@pytest.mark.parametrize("folder", ["crds", "charts/tether/crds"])
def test_crd_files_are_up_to_date(folder: str) -> None:
    expected = {crd_filename(c): crd_yaml(c) for c in crd_manifests()}
    found = {p.name: p.read_text() for p in (ROOT / folder).glob("*.yaml")}
    assert set(found) == set(expected), f"{folder} has other files than the CRDs: {FIX}"
    for name, text in expected.items():
        assert found[name] == text, f"{folder}/{name} is stale: {FIX}"


def test_cli_prints_the_same_stream() -> None:
    result = CliRunner().invoke(crds, [])
    assert result.exit_code == 0
    assert result.output == crds_yaml()
    docs = list(YAML(typ="safe").load_all(io.StringIO(result.output)))
    assert docs == crd_manifests()


# --- CEL rules in the CRD agree with the models ----------------------------------------

_ENV = celpy.Environment()


def cel_failures(schema: dict[str, Any], value: Any) -> list[str]:
    """Evaluate the x-kubernetes-validations rules the way the apiserver applies them."""
    failures: list[str] = []
    for rule in schema.get("x-kubernetes-validations", []):
        program = _ENV.program(_ENV.compile(rule["rule"]))
        if not program.evaluate({"self": celpy.json_to_cel(value)}):
            failures.append(rule["message"])
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                failures += cel_failures(sub, value[name])
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            failures += cel_failures(schema["items"], item)
    return failures


SOURCES = [
    {"repositoryRef": {"name": "demo"}},
    {"repoURL": "https://h/r.git", "path": "apps/web"},
    {"repositoryRef": {"name": "demo"}, "repoURL": "https://h/r.git"},
    {"path": "x"},
    {"repositoryRef": {"name": "d"}, "path": "/abs"},
    {"repositoryRef": {"name": "d"}, "path": ".."},
    {"repositoryRef": {"name": "d"}, "path": "a/../../b"},
    {"repositoryRef": {"name": "d"}, "path": "../b"},
    {"repositoryRef": {"name": "d"}, "path": "a/.."},
    {"repositoryRef": {"name": "d"}, "path": "a..b/c.."},
    {"repositoryRef": {"name": "d"}, "helm": {}, "directory": {}},
    {"repositoryRef": {"name": "d"}, "helm": {}},
]


@pytest.mark.parametrize("source", SOURCES)
def test_application_cel_rules_agree_with_model(source: dict[str, Any]) -> None:
    spec = {"source": source}
    obj = {"metadata": {"name": "a", "namespace": "n"}, "spec": spec}
    try:
        parse_application(obj)
        model_ok = True
    except InvalidObjectError:
        model_ok = False
    cel_ok = not cel_failures(schema_of("Application")["properties"]["spec"], spec)
    assert cel_ok == model_ok


@pytest.mark.parametrize(
    ("spec", "ok"),
    [
        ({"url": "https://h/r.git"}, True),
        ({"url": "http://h/r.git"}, False),
        ({"url": "git://h/r.git", "insecure": False}, False),
        ({"url": "git://h/r.git", "insecure": True}, True),
        ({"url": "file:///srv/r.git"}, False),
        ({"url": "git@h:org/r.git"}, True),
    ],
)
def test_repository_cel_rules_agree_with_model(spec: dict[str, Any], ok: bool) -> None:
    from tether.api import parse_repository

    obj = {"metadata": {"name": "r", "namespace": "n"}, "spec": spec}
    try:
        parse_repository(obj)
        model_ok = True
    except InvalidObjectError:
        model_ok = False
    assert model_ok == ok
    assert (not cel_failures(schema_of("Repository")["properties"]["spec"], spec)) == ok


SPECS: list[tuple[dict[str, Any], bool]] = [
    ({"destinations": ["$self", "team-*", "a?c"]}, True),
    ({"destinations": ["$other"]}, False),
    ({"destinations": ["x$self"]}, False),
    ({"destinations": ["Upper"]}, False),
    ({"applicationNamespaces": ["*"]}, True),
    ({"applicationNamespaces": ["$self"]}, False),
    ({"sourceRepositories": ["https://git.example.com/team-a/*"]}, True),
    ({"sourceRepositories": ["https://h/a b"]}, False),
    ({"sourceRepositories": [""]}, False),
    ({"clusterResources": [{"group": "rbac.authorization.k8s.io", "kind": "ClusterRole"}]}, True),
    ({"clusterResources": [{"group": "a/b", "kind": "X"}]}, False),
    ({"clusterResources": [{"kind": ""}]}, False),
    ({"namespaceResources": {"deny": [{"group": "", "kind": "Secret"}]}}, True),
    ({"serviceAccount": {"name": "deployer"}}, True),
    ({"serviceAccount": {"name": "deployer", "namespace": "Bad_NS"}}, False),
]


@pytest.mark.parametrize(("spec", "ok"), SPECS)
def test_project_cel_rules_and_patterns_agree_with_model(spec: dict[str, Any], ok: bool) -> None:
    try:
        parse_project({"metadata": {"name": "p"}, "spec": spec})
        model_ok = True
    except InvalidObjectError:
        model_ok = False
    assert model_ok == ok
    schema = schema_of("Project")["properties"]["spec"]
    cel_ok = not cel_failures(schema, spec) and _patterns_ok(schema, spec)
    assert cel_ok == ok


def _patterns_ok(schema: dict[str, Any], value: Any) -> bool:
    """The string patterns and lengths of the schema, checked as the apiserver does."""
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return False
        return len(value) >= schema.get("minLength", 0)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        if any(name not in value for name in schema.get("required", [])):
            return False
        return all(_patterns_ok(props[k], v) for k, v in value.items() if k in props)
    if isinstance(value, list):
        return all(_patterns_ok(schema.get("items", {}), v) for v in value)
    return True
