"""The generated CRDs on a real kube-apiserver: accepted, validating, nothing pruned.

Checks what only the apiserver can: that the schema is structural (the CRD becomes
Established with no NonStructuralSchema condition), that the CEL rules and
patterns reject what the models reject, that every status field the controller
writes survives the round trip through the status subresource, and that
`kubectl get` shows the printer columns and knows the short names.
"""

from __future__ import annotations

import contextlib
import copy
import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tether.api import (
    ApplicationStatus,
    HealthState,
    OperationState,
    Reason,
    Repository,
    ResourceStatus,
    SyncState,
    WriteBackStatus,
    append_history,
    crd_manifests,
    mark_ready,
    parse_application,
)

if TYPE_CHECKING:
    from conftest import Kubectl

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
REV = "main@sha1:" + "c" * 40


@pytest.fixture(scope="module")
def crds(kubectl: Kubectl) -> list[dict[str, Any]]:
    kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    names = [c["metadata"]["name"] for c in crd_manifests()]
    for name in names:
        kubectl.run("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")
    # Discovery lags the Established condition a little; wait until kubectl knows the kinds.
    deadline = time.monotonic() + 30
    while kubectl.run("get", "applications", "-A", check=False).returncode != 0:
        assert time.monotonic() < deadline, "applications never appeared in discovery"
        time.sleep(0.5)
    return [kubectl.json("get", f"crd/{n}") for n in names]


def application(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {"source": {"repositoryRef": {"name": "demo"}}, **spec},
    }


def create(kubectl: Kubectl, ns: str, obj: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return kubectl.run("create", "-n", ns, "-f", "-", input=json.dumps(obj), check=False)


def test_crds_are_structural_and_established(crds: list[dict[str, Any]]) -> None:
    for crd in crds:
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True", crd["metadata"]["name"]
        assert conditions.get("NamesAccepted") == "True"
        assert "NonStructuralSchema" not in conditions


def test_short_names_and_category(
    crds: list[dict[str, Any]], kubectl: Kubectl, namespace: str
) -> None:
    kubectl.run("create", "-n", namespace, "-f", str(ROOT / "examples" / "application.yaml"))
    for name in ("app", "apps", "applications", "tether"):
        out = kubectl.run("get", name, "-n", namespace, "-o", "name").stdout
        assert "application.tether.dev/demo" in out, name
    kubectl.run("create", "-n", namespace, "-f", str(ROOT / "examples" / "repository.yaml"))
    for name in ("repo", "repos", "repositories", "tether"):
        out = kubectl.run("get", name, "-n", namespace, "-o", "name").stdout
        assert "repository.tether.dev/tether-examples" in out, name


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (
            {"source": {"repositoryRef": {"name": "demo"}, "repoURL": "https://h/r.git"}},
            "set exactly one of repositoryRef or repoURL",
        ),
        ({"source": {"path": "x"}}, "set exactly one of repositoryRef or repoURL"),
        (  # multi-source: source and sources exclude each other, and one is needed
            {
                "source": {"repositoryRef": {"name": "d"}},
                "sources": [{"repositoryRef": {"name": "d"}}],
            },
            "set exactly one of source or sources",
        ),
        ({"project": "default"}, "set exactly one of source or sources"),
        ({"sources": []}, "spec.sources"),
        ({"source": {"repositoryRef": {"name": "d"}, "ref": "v"}}, "ref is only for spec.sources"),
        ({"source": {"repositoryRef": {"name": "d"}, "path": "../x"}}, "must not contain .."),
        ({"source": {"repositoryRef": {"name": "d"}, "path": "/x"}}, "must not contain .."),
        (
            {"source": {"repositoryRef": {"name": "d"}, "helm": {}, "kustomize": {}}},
            "set at most one of directory, kustomize or helm",
        ),
        (
            {
                "source": {"repositoryRef": {"name": "d"}},
                "syncPolicy": {"syncOptions": ["Validate=false"]},
            },
            "spec.syncPolicy.syncOptions[0]",
        ),
        ({"source": {"repositoryRef": {"name": "d"}}, "interval": "5 minutes"}, "spec.interval"),
        ({"source": {"repositoryRef": {"name": "d"}}, "interval": "1ns"}, "at least 10s"),
        ({"source": {"repositoryRef": {"name": "d"}}, "interval": "9.5s"}, "at least 10s"),
        (
            {"source": {"repositoryRef": {"name": "d"}}, "deletionPolicy": "Cascade"},
            "spec.deletionPolicy",
        ),
        *(
            ({"source": {"repositoryRef": {"name": "d"}}, "writeBack": wb}, fragment)
            for wb, fragment in (
                ({"capture": {}}, "capture at least one field or set newObjects"),
                (
                    {"capture": {"fields": [{"kind": "Deployment", "pointer": "spec/replicas"}]}},
                    "pointer must start with /",
                ),
                (
                    {"capture": {"newObjects": {"matchLabels": {}}}},
                    "matchLabels must not be empty",
                ),
                (
                    {
                        "capture": {"newObjects": {"matchLabels": {"a": "b"}}},
                        "branch": "x",
                        "pushBranch": "x",
                    },
                    "pushBranch must differ from branch",
                ),
                (
                    {"capture": {"newObjects": {"matchLabels": {"a": "b"}}}, "debounce": "2h"},
                    "debounce is at most 1h",
                ),
                (
                    {"capture": {"newObjects": {"matchLabels": {"a": "b"}}}, "branch": "a..b"},
                    "must be a valid branch name",
                ),
            )
        ),
    ],
)
def test_apiserver_rejects_what_the_model_rejects(
    crds: list[dict[str, Any]],
    kubectl: Kubectl,
    namespace: str,
    spec: dict[str, Any],
    fragment: str,
) -> None:
    obj = {**application("bad"), "spec": spec}
    with pytest.raises(ValueError):
        parse_application({**obj, "metadata": {"name": "bad", "namespace": namespace}})
    done = create(kubectl, namespace, obj)
    assert done.returncode != 0
    assert fragment in done.stderr, done.stderr


def test_apiserver_rejects_insecure_repository_url(
    crds: list[dict[str, Any]], kubectl: Kubectl, namespace: str
) -> None:
    repo = {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": "plain"},
        "spec": {"url": "http://127.0.0.1/r.git"},
    }
    done = create(kubectl, namespace, repo)
    assert done.returncode != 0 and "need insecure: true" in done.stderr
    repo["spec"]["insecure"] = True
    assert create(kubectl, namespace, repo).returncode == 0


@pytest.mark.parametrize(("interval", "accepted"), [("1ns", False), ("9s", False), ("10s", True)])
def test_apiserver_enforces_the_repository_interval_floor(
    crds: list[dict[str, Any]], kubectl: Kubectl, namespace: str, interval: str, accepted: bool
) -> None:
    spec = {"url": "https://git.example/r.git", "interval": interval}
    with pytest.raises(ValueError) if not accepted else contextlib.nullcontext():
        Repository.model_validate({"spec": spec})
    name = f"floor-{interval.replace('.', '-')}"
    repo = {"apiVersion": "tether.dev/v1alpha1", "kind": "Repository", "metadata": {"name": name}}
    done = create(kubectl, namespace, {**repo, "spec": spec})
    assert (done.returncode == 0) == accepted, done.stderr
    if not accepted:
        assert "interval must be at least 10s" in done.stderr


def test_free_form_fields_survive(
    crds: list[dict[str, Any]], kubectl: Kubectl, namespace: str
) -> None:
    helm = {
        "values": {"image": {"tag": "1.2.3"}, "list": [1, {"a": None}], "flag": True},
        "parameters": [{"name": "replicas", "value": 3}, {"name": "tag", "value": "v1"}],
    }
    kustomize_patch = {
        "patch": "- op: add\n  path: /x\n  value: 1",
        "target": {"kind": "Deployment"},
    }
    objs = [
        application("helm-obj", source={"repositoryRef": {"name": "d"}, "helm": helm}),
        application(
            "helm-str", source={"repositoryRef": {"name": "d"}, "helm": {"values": "a: 1\n"}}
        ),
        application(
            "kust",
            source={"repositoryRef": {"name": "d"}, "kustomize": {"patches": [kustomize_patch]}},
        ),
    ]
    for obj in objs:
        assert create(kubectl, namespace, obj).returncode == 0
        stored = kubectl.json("get", "application", obj["metadata"]["name"], "-n", namespace)
        assert stored["spec"] == obj["spec"]
        parse_application(stored)


def full_status(generation: int) -> ApplicationStatus:
    history = append_history([], revision=REV, result="Succeeded", deployed_at=T0, message="ok")
    return ApplicationStatus(
        sync=SyncState(status="Synced", revision=REV),
        health=HealthState(status="Healthy"),
        conditions=mark_ready(
            [], Reason.SUCCEEDED, "synced and healthy", generation=generation, now=T0
        ),
        observed_generation=generation,
        resources=[
            ResourceStatus(
                group="apps",
                version="v1",
                kind="Deployment",
                namespace="web",
                name="web",
                status="Synced",
                health=HealthState(status="Healthy"),
                wave=2,
                requires_pruning=True,
                hook=True,
                drifted_fields=["/spec/replicas"],
                message="m",
            )
        ],
        operation_state=OperationState(
            phase="Succeeded",
            revision=REV,
            initiated_by="automated",
            started_at=T0,
            finished_at=T0,
            retry_count=1,
            step="Sync wave 2",
            plan={"steps": [{"wave": 2, "done": True}], "cursor": 3},
        ),
        history=history,
        reconciled_at=T0,
        message="all good",
        last_handled_sync="1",
        last_handled_refresh="2",
        write_back=WriteBackStatus(
            last_commit="d" * 40,
            last_push_time=T0,
            branch="main",
            pending=["apps/Deployment web/web /spec/replicas"],
        ),
    )


def test_every_status_field_survives_the_status_subresource(
    crds: list[dict[str, Any]], kubectl: Kubectl, namespace: str
) -> None:
    assert create(kubectl, namespace, application("st")).returncode == 0
    generation = kubectl.json("get", "application", "st", "-n", namespace)["metadata"]["generation"]
    status = full_status(generation).to_dict()
    sent = copy.deepcopy(status)
    sent["notDeclared"] = "pruned"
    kubectl.run(
        "patch", "application", "st", "-n", namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": sent}),
    )  # fmt: skip
    stored = kubectl.json("get", "application", "st", "-n", namespace)
    assert stored["status"] == status
    assert ApplicationStatus.model_validate(stored["status"]) == full_status(generation)
    table = kubectl.run("get", "applications", "-n", namespace, "st", "-o", "wide").stdout
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "SYNC", "HEALTH", "REVISION", "AGE", "MESSAGE"]
    assert row.split()[:4] == ["st", "Synced", "Healthy", REV]
    assert row.rstrip().endswith("all good")
    narrow = kubectl.run("get", "applications", "-n", namespace, "st").stdout
    assert "MESSAGE" not in narrow.splitlines()[0]


def test_status_is_not_writable_through_the_main_resource(
    crds: list[dict[str, Any]], kubectl: Kubectl, namespace: str
) -> None:
    obj = application("sub")
    obj["status"] = {"sync": {"status": "Synced"}}
    assert create(kubectl, namespace, obj).returncode == 0
    stored = kubectl.json("get", "application", "sub", "-n", namespace)
    assert "status" not in stored or "sync" not in stored["status"]


def test_repository_columns(crds: list[dict[str, Any]], kubectl: Kubectl, namespace: str) -> None:
    kubectl.run("create", "-n", namespace, "-f", str(ROOT / "examples" / "repository.yaml"))
    status = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Succeeded",
                "message": "resolved main",
                "lastTransitionTime": "2024-05-01T12:00:00Z",
            }
        ],
        "revisions": [{"revision": "main", "resolved": REV}],
        "lastFetchTime": "2024-05-01T12:00:00Z",
        "lastHandledRefresh": "2024-05-01T11:59:00Z",
        "observedGeneration": 1,
    }
    kubectl.run(
        "patch", "repository", "tether-examples", "-n", namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": status}),
    )  # fmt: skip
    stored = kubectl.json("get", "repository", "tether-examples", "-n", namespace)
    assert stored["status"] == status
    table = kubectl.run("get", "repos", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "READY", "URL", "AGE"]
    assert table[1].split()[:3] == ["tether-examples", "True", "git://127.0.0.1:9418/tether"]
