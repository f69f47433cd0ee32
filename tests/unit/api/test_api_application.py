"""Application: parsing, defaults, derived values and the errors a user sees."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tether.api import (
    Application,
    InvalidObjectError,
    SyncOptions,
    parse_application,
    parse_sync_options,
)
from tether.appspec import spec_of


def app(source: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": "team-a", "generation": 7},
        "spec": {"source": source or {"repositoryRef": {"name": "demo"}}, **spec},
    }


def problems(obj: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidObjectError) as info:
        parse_application(obj)
    assert str(info.value).startswith("Application team-a/guestbook is invalid: ")
    return {p.path: p.message for p in info.value.problems}


def test_minimal_application_defaults() -> None:
    a = parse_application(app())
    assert isinstance(a, Application)
    src = a.spec.source
    assert src.repository_ref is not None and src.repository_ref.name == "demo"
    assert src.repo_url is None
    assert (src.revision, src.path, src.clean_path) == ("HEAD", "", "")
    assert src.directory is None and src.helm is None and src.kustomize is None
    assert a.spec.interval_seconds == 180
    assert a.spec.suspend is False
    assert a.spec.sync_policy.automated is None
    assert a.spec.sync_policy.options == SyncOptions()
    assert a.spec.effective_deletion_policy() == "Orphan"
    assert a.target_namespace == "team-a"
    assert a.status is None


def test_full_application_round_trips() -> None:
    raw = app(
        {
            "repoURL": "https://git.example/org/apps.git",
            "revision": ">=1.2.0 <2.0.0",
            "path": "charts/web",
            "helm": {
                "releaseName": "web",
                "valueFiles": ["values-prod.yaml", "../common/values.yaml"],
                "values": {"replicas": 3, "image": {"tag": "1.2.3"}},
                "parameters": [{"name": "image.tag", "value": "1.2.4", "forceString": True}],
                "skipCrds": True,
            },
        },
        destination={"namespace": "web", "serviceAccountName": "deployer"},
        syncPolicy={
            "automated": {"prune": True, "selfHeal": True, "allowEmpty": False},
            "syncOptions": ["CreateNamespace=true", "ServerSideApply=true", "Prune=false"],
            "retry": {"limit": 3, "backoff": {"duration": "10s", "factor": 3, "maxDuration": "1m"}},
        },
        ignoreDifferences=[
            {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]},
            {"kind": "Secret", "name": "x", "managedFieldsManagers": ["vault"]},
        ],
        interval="10m",
        suspend=True,
        deletionPolicy="Orphan",
    )
    a = parse_application(copy.deepcopy(raw))
    again = parse_application({**raw, "spec": a.spec.to_dict()})
    assert again == a
    assert a.spec.to_dict()["source"]["repoURL"] == "https://git.example/org/apps.git"
    assert a.spec.effective_deletion_policy() == "Orphan"
    assert a.target_namespace == "web"
    opts = a.spec.sync_policy.options
    assert opts.create_namespace and opts.server_side_apply and not opts.prune
    assert not opts.replace
    helm = a.spec.source.helm
    assert helm is not None
    assert helm.set_arguments() == ["--set-string", "image.tag=1.2.4"]


def test_deletion_policy_default_follows_prune() -> None:
    pruning = parse_application(app(syncPolicy={"automated": {"prune": True}}))
    assert pruning.spec.effective_deletion_policy() == "Delete"
    keeping = parse_application(app(syncPolicy={"automated": {"selfHeal": True}}))
    assert keeping.spec.effective_deletion_policy() == "Orphan"
    explicit = parse_application(
        app(syncPolicy={"automated": {"prune": True}}, deletionPolicy="Orphan")
    )
    assert explicit.spec.effective_deletion_policy() == "Orphan"
    assert "spec.deletionPolicy" in problems(app(deletionPolicy="Cascade"))


def test_both_repository_ref_and_repo_url_is_refused_clearly() -> None:
    found = problems(app({"repositoryRef": {"name": "demo"}, "repoURL": "https://h/r.git"}))
    assert found == {
        "spec.source": "set exactly one of repositoryRef (a Repository's name) or repoURL "
        "(a Git URL); found both"
    }


def test_neither_repository_ref_nor_repo_url() -> None:
    found = problems(app({"path": "x"}))
    assert found["spec.source"].endswith("found neither")


def test_unknown_sync_option_names_the_allowed_set() -> None:
    found = problems(app(syncPolicy={"syncOptions": ["CreateNamespace=true", "Validate=false"]}))
    message = found["spec.syncPolicy.syncOptions"]
    assert message.startswith("unknown sync option 'Validate=false': allowed are Prune=false, ")
    for option in ("Replace=true", "SkipDryRunOnMissingResource=true", "PruneLast=true"):
        assert option in message


@pytest.mark.parametrize("option", ["createnamespace=true", "CreateNamespace", "Prune=no", ""])
def test_malformed_sync_options(option: str) -> None:
    assert "spec.syncPolicy.syncOptions" in problems(app(syncPolicy={"syncOptions": [option]}))


def test_contradicting_sync_options() -> None:
    found = problems(app(syncPolicy={"syncOptions": ["Prune=false", "Prune=true"]}))
    assert "set to both true and false" in found["spec.syncPolicy.syncOptions"]
    with pytest.raises(ValueError):
        parse_sync_options(["Replace=true", "Replace=false"])
    assert parse_sync_options(["Replace=true", "Replace=true"]).replace


def test_insecure_repo_url_needs_flag() -> None:
    found = problems(app({"repoURL": "http://127.0.0.1/r.git"}))
    assert "set insecure: true" in found["spec.source"]
    ok = parse_application(app({"repoURL": "http://127.0.0.1/r.git", "insecure": True}))
    assert ok.spec.source.insecure


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/etc", "remove the leading /"),
        ("..", "must not contain '..'"),
        ("apps/../../x", "must not contain '..'"),
        ("a\\b", "backslash"),
        ("a\x00b", "NUL"),
    ],
)
def test_paths_cannot_leave_the_repository(path: str, fragment: str) -> None:
    found = problems(app({"repositoryRef": {"name": "demo"}, "path": path}))
    assert fragment in found["spec.source.path"]


@pytest.mark.parametrize(
    ("path", "clean"),
    [("", ""), (".", ""), ("./apps/", "apps"), ("apps//web", "apps/web"), ("a/./b", "a/b")],
)
def test_clean_path(path: str, clean: str) -> None:
    a = parse_application(app({"repositoryRef": {"name": "demo"}, "path": path}))
    assert a.spec.source.clean_path == clean


def test_value_files_must_stay_in_repository() -> None:
    base = {"repositoryRef": {"name": "demo"}, "path": "charts/web"}
    ok = parse_application(app({**base, "helm": {"valueFiles": ["../../values.yaml"]}}))
    assert ok.spec.source.helm is not None
    escaping = problems(app({**base, "helm": {"valueFiles": ["../../../etc/passwd"]}}))
    assert "lies outside the repository" in escaping["spec.source"]
    url = problems(app({**base, "helm": {"valueFiles": ["https://evil/values.yaml"]}}))
    assert "is a URL" in url["spec.source.helm.valueFiles"]
    absolute = problems(app({**base, "helm": {"valueFiles": ["/values.yaml"]}}))
    assert "relative to the chart folder" in absolute["spec.source.helm.valueFiles"]


def test_helm_values_object_or_string_only() -> None:
    as_text = parse_application(app({"repositoryRef": {"name": "d"}, "helm": {"values": "a: 1\n"}}))
    assert as_text.spec.source.helm is not None
    assert as_text.spec.source.helm.values == "a: 1\n"
    found = problems(app({"repositoryRef": {"name": "d"}, "helm": {"values": [1, 2]}}))
    assert "object of Helm values or a string of YAML" in found["spec.source.helm.values"]


def test_helm_parameter_values_become_text() -> None:
    a = parse_application(
        app(
            {
                "repositoryRef": {"name": "d"},
                "helm": {
                    "parameters": [
                        {"name": "replicas", "value": 3},
                        {"name": "debug", "value": True},
                        {"name": "ratio", "value": 0.5},
                    ]
                },
            }
        )
    )
    assert a.spec.source.helm is not None
    assert a.spec.source.helm.set_arguments() == [
        "--set",
        "replicas=3",
        "--set",
        "debug=true",
        "--set",
        "ratio=0.5",
    ]


def test_only_one_source_kind() -> None:
    found = problems(app({"repositoryRef": {"name": "d"}, "helm": {}, "kustomize": {}}))
    assert found["spec.source"] == (
        "set at most one of directory, kustomize or helm; found kustomize and helm"
    )


def test_kustomize_options() -> None:
    a = parse_application(
        app(
            {
                "repositoryRef": {"name": "d"},
                "kustomize": {
                    "namePrefix": "dev-",
                    "namespace": "dev",
                    "images": ["nginx=nginx:1.27"],
                    "commonLabels": {"team": "a"},
                    "patches": [{"patch": "- op: add", "target": {"kind": "Deployment"}}],
                },
            }
        )
    )
    k = a.spec.source.kustomize
    assert (
        k is not None and k.name_prefix == "dev-" and k.patches[0]["target"]["kind"] == "Deployment"
    )
    bad = problems(app({"repositoryRef": {"name": "d"}, "kustomize": {"images": ["a b"]}}))
    assert "name=newName:tag" in bad["spec.source.kustomize.images"]
    label = problems(app({"repositoryRef": {"name": "d"}, "kustomize": {"commonLabels": {"a": 1}}}))
    assert "spec.source.kustomize.commonLabels.a" in label


def test_ignore_differences_checks() -> None:
    pointer = problems(app(ignoreDifferences=[{"kind": "Deployment", "jsonPointers": ["spec"]}]))
    assert "must start with /" in pointer["spec.ignoreDifferences[0].jsonPointers"]
    empty = problems(app(ignoreDifferences=[{"kind": "Deployment"}]))
    assert "set jsonPointers or managedFieldsManagers" in empty["spec.ignoreDifferences[0]"]
    no_kind = problems(app(ignoreDifferences=[{"jsonPointers": ["/a"]}]))
    assert no_kind["spec.ignoreDifferences[0].kind"] == "is required"


def test_unknown_fields_deep_in_spec_list_the_known_ones() -> None:
    found = problems(app(syncPolicy={"automated": {"selfheal": True}}))
    assert found["spec.syncPolicy.automated.selfheal"] == (
        "unknown field; the fields here are prune, selfHeal, allowEmpty"
    )
    listed = problems(
        app(ignoreDifferences=[{"kind": "X", "jsonPointers": ["/a"], "pointers": []}])
    )
    assert "jsonPointers" in listed["spec.ignoreDifferences[0].pointers"]


def test_bad_interval_and_namespace() -> None:
    found = problems(app(interval="often", destination={"namespace": "Team_A"}))
    assert "1h30m" in found["spec.interval"]
    assert found["spec.destination.namespace"].startswith("must be a DNS label")


@pytest.mark.parametrize(("interval", "ok"), [("1ns", False), ("9.9s", False), ("10s", True)])
def test_interval_has_a_ten_second_floor(interval: str, ok: bool) -> None:
    if ok:
        assert parse_application(app(interval=interval)).spec.interval_seconds == 10
    else:
        assert "must be at least 10s" in problems(app(interval=interval))["spec.interval"]


def test_retry_backoff_delays_grow_and_cap() -> None:
    a = parse_application(
        app(
            syncPolicy={
                "retry": {
                    "limit": 4,
                    "backoff": {"duration": "5s", "factor": 2, "maxDuration": "30s"},
                }
            }
        )
    )
    retry = spec_of(a).sync.retry
    assert retry.limit == 4
    assert [retry.backoff.delay(n) for n in range(1, 6)] == [5, 10, 20, 30, 30]
    defaults = spec_of(parse_application(app(syncPolicy={"retry": {}}))).sync.retry
    assert defaults.limit == 5 and defaults.backoff.delay(1) == 5
    assert defaults.backoff.delay(10_000) == 180  # no float overflow on a long streak
    assert "spec.syncPolicy.retry.limit" in problems(app(syncPolicy={"retry": {"limit": -1}}))


def test_kopf_like_mapping_views_are_accepted() -> None:
    class View(dict[str, Any]):
        """Stands in for kopf's Body: a Mapping that is not a plain dict subtype user."""

    raw = app()
    view = View(raw)
    view["spec"] = View(raw["spec"])
    assert parse_application(view).metadata.name == "guestbook"


def test_metadata_keeps_annotations_and_finalizers() -> None:
    raw = app()
    raw["metadata"].update(
        annotations={"tether.dev/sync": "1"}, finalizers=["tether.dev/cleanup"], uid="u-1"
    )
    a = parse_application(raw)
    assert a.metadata.annotations == {"tether.dev/sync": "1"}
    assert a.metadata.finalizers == ["tether.dev/cleanup"]
    assert a.metadata.generation == 7


def test_status_is_parsed_and_a_broken_status_does_not_hide_the_spec() -> None:
    raw = app()
    raw["status"] = {"sync": {"status": "Synced", "revision": "main@sha1:" + "a" * 40}}
    parsed = parse_application(raw)
    assert parsed.status is not None and parsed.status.sync.status == "Synced"
    raw["status"] = {"sync": {"status": "Sideways"}}
    assert parse_application(raw).status is None
    raw["spec"]["interval"] = "soon"
    assert list(problems(raw)) == ["spec.interval"]


def test_jsonnet_options_reach_the_engine_options() -> None:
    from tether.manifests import JsonnetVar

    jsonnet = {
        "extVars": [{"name": "env", "value": "prod"}, {"name": "n", "value": "2", "code": True}],
        "tlas": [{"name": "replicas", "value": "3", "code": True}],
        "libs": ["vendor", "lib/k8s"],
    }
    a = parse_application(app({"repositoryRef": {"name": "d"}, "directory": {"jsonnet": jsonnet}}))
    options = spec_of(a).source.render.directory.jsonnet
    assert options.ext_vars == (JsonnetVar("env", "prod"), JsonnetVar("n", "2", code=True))
    assert options.tlas == (JsonnetVar("replicas", "3", code=True),)
    assert options.libs == ("vendor", "lib/k8s")


@pytest.mark.parametrize(
    ("jsonnet", "field", "message"),
    [
        ({"libs": ["../other"]}, "libs", "must not contain '..'"),
        ({"libs": ["/etc"]}, "libs", "must be relative to the repository root"),
        ({"tlas": [{"name": "a"}, {"name": "a"}]}, "tlas", "'a' is set twice"),
        ({"extVars": [{"name": ""}]}, "extVars[0].name", "at least 1 character"),
    ],
)
def test_jsonnet_options_refused(jsonnet: dict[str, Any], field: str, message: str) -> None:
    found = problems(app({"repositoryRef": {"name": "d"}, "directory": {"jsonnet": jsonnet}}))
    assert message in found[f"spec.source.directory.jsonnet.{field}"]
