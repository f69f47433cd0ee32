"""Cleaning live objects for Git, naming and writing their files."""

from __future__ import annotations

import copy
from typing import Any

from tether.constants import APP_LABEL, OPERATION_ANNOTATION, TRACKING_ANNOTATION
from tether.manifests.documents import parse_file
from tether.writeback.newobject import clean, new_object_path, render_new_object

LIVE: dict[str, Any] = {
    "kind": "ConfigMap",
    "apiVersion": "v1",
    "metadata": {
        "name": "settings",
        "namespace": "demo",
        "uid": "1234",
        "resourceVersion": "99",
        "generation": 2,
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "managedFields": [{"manager": "kubectl"}],
        "labels": {"capture": "yes", APP_LABEL: "demo", "team": "web"},
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            TRACKING_ANNOTATION: "demo/app:/ConfigMap:demo/settings",
            OPERATION_ANNOTATION: "op-1",
        },
    },
    "data": {"MODE": "fast", "script": "line one\nline two\n"},
    "status": {"phase": "whatever"},
}


def test_clean_removes_server_fields_marks_and_the_selector_label() -> None:
    before = copy.deepcopy(LIVE)
    cleaned = clean(LIVE, ["capture"])
    assert cleaned == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "demo", "labels": {"team": "web"}},
        "data": {"MODE": "fast", "script": "line one\nline two\n"},
    }
    assert list(cleaned) == ["apiVersion", "kind", "metadata", "data"]
    assert before == LIVE


def test_clean_drops_maps_left_empty() -> None:
    live = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"labels": {"capture": "x"}}}
    assert clean(live, ["capture"]) == {"apiVersion": "v1", "kind": "ConfigMap"}


def test_file_name_is_lower_case_kind_and_name() -> None:
    assert new_object_path("apps/web", LIVE) == "apps/web/configmap-settings.yaml"
    role = {"kind": "ClusterRole", "metadata": {"name": "system:Reader"}}
    assert new_object_path("", role) == "clusterrole-system-reader.yaml"


def test_rendered_file_reads_back_as_the_object() -> None:
    cleaned = clean(LIVE, ["capture"])
    data = render_new_object(cleaned)
    (document,) = parse_file(data, file="x.yaml")
    assert document.value == cleaned
    assert b"script: |\n" in data


def test_allocated_cluster_ip_goes_and_headless_stays() -> None:
    def service(ip: str) -> dict[str, Any]:
        spec = {"clusterIP": ip, "clusterIPs": [ip], "ports": [{"port": 80}]}
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec}

    assert clean(service("10.0.0.7"), [])["spec"] == {"ports": [{"port": 80}]}
    assert clean(service("None"), [])["spec"]["clusterIP"] == "None"


def test_deployment_revision_annotation_goes() -> None:
    live = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "annotations": {"deployment.kubernetes.io/revision": "3"}},
    }
    assert clean(live, []) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
    }
