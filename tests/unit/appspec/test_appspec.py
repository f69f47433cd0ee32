"""The one translation of an Application (and of the CLI's flags) into an ``AppSpec``."""

from __future__ import annotations

from typing import Any

import pytest

from tether.api.application import Application
from tether.appspec import (
    Backoff,
    render_options_from_flags,
    spec_from_flags,
    spec_of,
)
from tether.diff import IgnoreRule
from tether.manifests.options import (
    DirectoryOptions,
    HelmOptions,
    KustomizeImage,
    KustomizeOptions,
    RenderOptions,
)


def application(source: dict[str, Any], **spec: Any) -> Application:
    return Application.model_validate(
        {
            "metadata": {"name": "web", "namespace": "team", "uid": "u1", "generation": 3},
            "spec": {"source": {"repositoryRef": {"name": "repo"}, **source}, **spec},
        }
    )


def test_directory_options_come_from_the_model() -> None:
    options = spec_of(
        application({"path": "./apps/", "directory": {"recurse": True, "include": ["*.yaml"]}})
    ).source
    assert options.path == "apps"
    assert options.render == RenderOptions(directory=DirectoryOptions(True, ("*.yaml",), ()))


def test_kustomize_options_come_from_the_model() -> None:
    kustomize = spec_of(
        application(
            {
                "kustomize": {
                    "namePrefix": "p-",
                    "images": ["nginx=registry.local/nginx:1.25", "redis:7"],
                    "commonLabels": {"b": "2", "a": "1"},
                    "patches": [{"patch": "- op: remove\n  path: /x\n", "target": {"kind": "Job"}}],
                }
            }
        )
    ).source.render.kustomize
    assert kustomize.name_prefix == "p-"
    assert kustomize.images == (
        KustomizeImage("nginx", "registry.local/nginx", "1.25"),
        KustomizeImage("redis:7", "redis", "7"),
    )
    assert kustomize.common_labels == (("a", "1"), ("b", "2"))
    target = kustomize.patches[0].target
    assert target is not None and target.kind == "Job"
    assert KustomizeOptions().is_empty and not kustomize.is_empty


def test_helm_options_come_from_the_model() -> None:
    helm = spec_of(
        application(
            {
                "helm": {
                    "valueFiles": ["v.yaml"],
                    "values": {"replicas": 2},
                    "releaseName": "r",
                    "parameters": [{"name": "image.tag", "value": 1}],
                    "skipCrds": True,
                }
            }
        )
    ).source.render.helm
    assert helm == HelmOptions(("v.yaml",), '{"replicas": 2}', (("image.tag", "1"),), "r", "", True)


def test_spec_of_carries_destination_policy_and_ignore_rules() -> None:
    spec = spec_of(
        application(
            {},
            destination={"namespace": "prod", "serviceAccountName": "deployer"},
            syncPolicy={
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["ServerSideApply=true"],
                "retry": {"limit": 2, "backoff": {"duration": "10s", "maxDuration": "1m"}},
            },
            ignoreDifferences=[{"kind": "Deployment", "jsonPointers": ["/spec/replicas"]}],
            interval="1m",
        )
    )
    assert (spec.namespace, spec.destination_namespace, spec.service_account) == (
        "team",
        "prod",
        "deployer",
    )
    assert spec.sync.automated and spec.sync.prune and spec.sync.self_heal and spec.server_side
    assert spec.sync.retry.limit == 2
    assert spec.sync.retry.backoff == Backoff(10.0, 2.0, 60.0)
    assert spec.ignore == (
        IgnoreRule(group="", kind="Deployment", json_pointers=("/spec/replicas",)),
    )
    assert spec.interval == 60.0 and spec.deletion_policy == "Delete"
    assert spec.render_id == "u1:3"


def test_destination_defaults_to_the_apps_namespace() -> None:
    spec = spec_of(application({}))
    assert spec.destination_namespace == "team" and not spec.sync.automated
    assert spec.sync.retry.limit == 0 and spec.deletion_policy == "Orphan"


def test_flags_build_the_same_kind_of_spec() -> None:
    render = render_options_from_flags(recurse=True, set_values=[("a", "1")], release_name="r")
    spec = spec_from_flags(
        app="web", namespace="ns", sync_options=["PruneLast=true"], render=render
    )
    assert spec.ref.name == "web" and spec.destination_namespace == "ns"
    assert spec.sync_options == ("PruneLast=true",) and not spec.sync.automated
    assert spec.source.render.directory.recurse and spec.source.render.helm.set == (("a", "1"),)


@pytest.mark.parametrize(
    ("retry", "expected"),
    [(0, 0.0), (1, 5.0), (2, 10.0), (3, 20.0), (7, 300.0), (10**6, 300.0)],
)
def test_backoff_counts_from_one_and_never_overflows(retry: int, expected: float) -> None:
    assert Backoff(5.0, 2.0, 300.0).delay(retry) == expected


def test_jittered_backoff_stays_within_ten_percent() -> None:
    import random

    rng = random.Random(7)
    delays = [Backoff(5.0, 2.0, 300.0).jittered(3, rng=rng) for _ in range(50)]
    assert all(18.0 <= d <= 22.0 for d in delays) and len(set(delays)) > 1
