"""The sample Repository and Application under examples/ parse, and the demo app is sound."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from tether.api import parse_application, parse_repository

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def load(path: Path) -> dict:
    (doc,) = [d for d in YAML(typ="safe").load_all(path.read_text()) if d]
    return doc


def test_sample_repository_parses() -> None:
    repo = parse_repository(load(EXAMPLES / "repository.yaml"))
    assert repo.metadata.name == "tether-examples"
    assert repo.spec.interval_seconds == 30


def test_sample_application_parses_and_points_at_the_demo_app() -> None:
    app = parse_application(load(EXAMPLES / "application.yaml"))
    repo = parse_repository(load(EXAMPLES / "repository.yaml"))
    source = app.spec.source
    assert source.repository_ref is not None
    assert source.repository_ref.name == repo.metadata.name
    assert app.metadata.namespace == repo.metadata.namespace
    assert (EXAMPLES.parent / source.clean_path).is_dir()
    assert app.spec.effective_deletion_policy() == "Delete"
    assert app.spec.sync_policy.options.create_namespace


def test_demo_app_manifests_are_complete_objects() -> None:
    files = sorted((EXAMPLES / "demo-app").glob("*.yaml"))
    assert files
    for path in files:
        doc = load(path)
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], path
        assert "namespace" not in doc["metadata"], f"{path}: the destination sets it"


def test_sample_project_allows_exactly_what_the_demo_needs() -> None:
    from tether.api import parse_project
    from tether.identity import AppRef, ResourceKey
    from tether.tenancy import Operation, PlannedObject, Request, SourceRequest, check, policy_of

    app = parse_application(load(EXAMPLES / "application.yaml"))
    policy = policy_of(parse_project(load(EXAMPLES / "project.yaml")))
    assert app.spec.project == policy.name
    repo = parse_repository(load(EXAMPLES / "repository.yaml"))
    ref = AppRef("default", app.metadata.name)
    objects = [
        PlannedObject(ResourceKey("", "Namespace", "", "demo"), Operation.CREATE_NAMESPACE),
        *(
            PlannedObject(
                ResourceKey("apps" if d["kind"] == "Deployment" else "", d["kind"], "demo", "x"),
                Operation.APPLY,
            )
            for d in (load(p) for p in sorted((EXAMPLES / "demo-app").glob("*.yaml")))
        ),
    ]
    url = repo.spec.url.replace("9418", "41234")  # demo.sh serves it on a free port
    request = Request(
        ref, "demo", source=SourceRequest(url, repo.metadata.name), objects=tuple(objects)
    )
    assert check(policy, request).allowed
    elsewhere = PlannedObject(ResourceKey("apps", "Deployment", "default", "x"), Operation.APPLY)
    assert not check(policy, Request(ref, "demo", objects=(elsewhere,))).allowed
