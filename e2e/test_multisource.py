"""A multi-source app end to end: a chart from the HTTPS Helm repository with its values
file from a Git Repository (``$values/...``), on the real control plane.

The app reaches Synced/Healthy with the value from Git and one revision per source in
``status.sync.revisions``; a commit changing the values file in Git moves it to Synced
with the new value (the Git Repository's new commit re-renders the chart). A value file
naming no ref is InvalidSpec naming it, and a Project that admits the chart's repository
but not the Git one refuses the app (every source is checked). The CLI's ``diff``/``sync``
take the same two sources as repeated ``--source``.
"""

from __future__ import annotations

import base64
import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sources"))

from source_servers import (
    PASSWORD,
    USER,
    HelmRepoServer,
    ServerTLS,
    make_tls,
    publish,
    serving,
)

from engine_helpers import tether
from operator_helpers import (
    GitServer,
    NotYet,
    Operator,
    app_status,
    condition,
    git_server,
    installed,
    operator,
    synced_healthy,
    wait_for,
)

pytestmark = pytest.mark.cluster

__all__ = ["git_server", "installed", "operator"]  # fixtures used here


@pytest.fixture(scope="module")
def chart_repo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tls = make_tls(tmp_path_factory.mktemp("multisource-tls"))
    folder = tmp_path_factory.mktemp("multisource-charts")
    publish(folder, "web", "1.0.0", tmp_path_factory.mktemp("multisource-helm-home"))
    with serving(HelmRepoServer(folder, tls)) as server:
        yield server, tls


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def objects(
    ns: str, chart_url: str, ca_pem: str, git_url: str, values: str = "$values"
) -> list[dict[str, Any]]:
    meta = {"apiVersion": "tether.dev/v1alpha1"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": ns},
            "data": {"username": b64(USER), "password": b64(PASSWORD), "ca.crt": b64(ca_pem)},
        },
        {
            **meta,
            "kind": "Repository",
            "metadata": {"name": "charts", "namespace": ns},
            "spec": {"type": "helm", "url": chart_url, "secretRef": {"name": "creds"}},
        },
        {
            **meta,
            "kind": "Repository",
            "metadata": {"name": "config", "namespace": ns},
            "spec": {"url": git_url, "insecure": True, "interval": "10s"},
        },
        {
            **meta,
            "kind": "Application",
            "metadata": {"name": "app", "namespace": ns},
            "spec": {
                "sources": [
                    {
                        "repositoryRef": {"name": "charts"},
                        "chart": "web",
                        "revision": "1.0.0",
                        "helm": {
                            "releaseName": "site",
                            "valueFiles": [f"{values}/{ns}/values.yaml"],
                        },
                    },
                    {"repositoryRef": {"name": "config"}, "revision": "main", "ref": "values"},
                ],
                "destination": {"namespace": ns},
                "syncPolicy": {"automated": {"prune": True}},
                "interval": "30s",
            },
        },
    ]


def message_of(kubectl: Any, ns: str) -> str:
    found = kubectl.run("get", "configmap", "site-web", "-n", ns, "-o", "json", check=False)
    if found.returncode != 0:
        return ""
    return str((json.loads(found.stdout).get("data") or {}).get("message") or "")


def test_chart_with_values_from_git_follows_the_values_file(
    operator: Operator,
    git_server: GitServer,
    chart_repo: tuple[HelmRepoServer, ServerTLS],
    kubectl: Any,
    namespace: str,
) -> None:
    server, tls = chart_repo
    first = git_server.push({f"{namespace}/values.yaml": "message: from-git\n"}, message="v1")
    kubectl.apply(objects(namespace, server.url, tls.ca_pem, git_server.url()))
    status = wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=90)
    assert message_of(kubectl, namespace) == "from-git"
    revisions = status["sync"]["revisions"]
    assert revisions[0].startswith("1.0.0@sha256:")
    assert revisions[1] == f"refs/heads/main@sha1:{first}"
    assert status["sync"]["revision"] == ",".join(revisions)

    second = git_server.push({f"{namespace}/values.yaml": "message: changed\n"}, message="v2")

    def moved() -> Any:
        seen = app_status(kubectl, namespace)
        sync = seen.get("sync") or {}
        ok = (
            message_of(kubectl, namespace) == "changed"
            and sync.get("status") == "Synced"
            and (sync.get("revisions") or ["", ""])[1].endswith(second)
        )
        return seen if ok else NotYet(seen)

    wait_for("the app to sync the changed values file", moved, timeout=90)


def ready_reason(kubectl: Any, ns: str, name: str, reason: str) -> Any:
    def check() -> Any:
        ready = condition(app_status(kubectl, ns, name), "Ready")
        return ready if ready.get("reason") == reason else NotYet(ready)

    return check


def test_a_missing_ref_and_an_unadmitted_source_are_refused_by_name(
    operator: Operator,
    git_server: GitServer,
    chart_repo: tuple[HelmRepoServer, ServerTLS],
    kubectl: Any,
    namespace: str,
) -> None:
    server, tls = chart_repo
    *setup, app = objects(namespace, server.url, tls.ca_pem, git_server.url(), values="$nope")
    limited = copy.deepcopy(app)
    limited["metadata"]["name"] = "limited"
    limited["spec"]["project"] = f"charts-only-{namespace}"
    limited["spec"]["sources"][0]["helm"] = {"releaseName": "site"}
    project = {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": f"charts-only-{namespace}"},
        "spec": {
            "sourceRepositories": [server.url],
            "destinations": ["$self"],
            "applicationNamespaces": [namespace],
        },
    }
    kubectl.apply([*setup, project, app, limited])
    invalid = wait_for("InvalidSpec", ready_reason(kubectl, namespace, "app", "InvalidSpec"), 60)
    assert "'$nope/" in invalid["message"] and "names no source's ref" in invalid["message"]
    refused = wait_for(
        "NotPermitted", ready_reason(kubectl, namespace, "limited", "NotPermitted"), 60
    )
    assert git_server.url() in refused["message"]
    assert kubectl.run("get", "configmap", "site-web", "-n", namespace, check=False).returncode != 0


def test_cli_diff_and_sync_take_repeated_sources(
    cluster: Any,
    git_server: GitServer,
    chart_repo: tuple[HelmRepoServer, ServerTLS],
    kubectl: Any,
    namespace: str,
    tmp_path: Path,
) -> None:
    server, tls = chart_repo
    git_server.push({f"{namespace}/values.yaml": "message: from-cli\n"}, message="cli")
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"username": USER, "password": PASSWORD}))
    flags = [
        "--source", f"url={server.url},type=helm,chart=web,revision=1.0.0,"
        f"values=$cfg/{namespace}/values.yaml",
        "--source", f"url={git_server.work},ref=cfg",
        "--auth-file", str(auth), "--ca-file", str(tls.ca_file), "--app", "cli", "-n", namespace,
    ]  # fmt: skip
    first = tether(cluster, "diff", *flags)
    assert first.returncode == 1, first.stderr  # drift: nothing applied yet
    synced = tether(cluster, "sync", *flags)
    assert synced.returncode == 0, synced.stderr
    again = tether(cluster, "diff", *flags)
    assert again.returncode == 0, again.stdout + again.stderr
    found = kubectl.json("get", "configmap", "cli-web", "-n", namespace)
    assert found["data"] == {"version": "1.0.0", "message": "from-cli"}
