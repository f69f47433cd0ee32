"""Jsonnet sources through the operator, on the real apiserver and a real git daemon.

A folder of ``*.jsonnet`` files with a library, top-level arguments and
external variables syncs to Synced/Healthy with every object present; a file
that fails to evaluate, or imports from outside the repository, sets
Ready=False with reason RenderFailed and a message naming ``file:line``. Files
that give empty arrays are an empty render: EmptyRender, and nothing is pruned
without allowEmpty.

Uses the chart install, operator process and helpers of ``operator_helpers``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))

from operator_helpers import (
    GitServer,
    NotYet,
    Operator,
    app_status,
    apply_repo_and_app,
    git_server,
    installed,
    operator,
    synced_healthy,
    wait_for,
)

pytestmark = pytest.mark.cluster

__all__ = ["git_server", "installed", "operator"]  # fixtures used here

LIB = """\
{
  configMap(name, data):: {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: name }, data: data,
  },
  service(name, port):: {
    apiVersion: 'v1', kind: 'Service', metadata: { name: name },
    spec: { selector: { app: name }, ports: [{ port: port, targetPort: port }] },
  },
}
"""

APP = """\
local k = import 'k.libsonnet';
function(name, port=80, replicas=1) [
  k.configMap(name + '-settings', {
    env: std.extVar('env'),
    replicas: std.toString(replicas),
  }),
  k.service(name, port),
]
"""

EXTRA = """\
{
  apiVersion: 'v1',
  kind: 'List',
  items: [
    (import 'k.libsonnet').configMap('extra-' + i, { index: std.toString(i) })
    for i in std.range(1, 3)
  ],
}
"""


def apply_jsonnet_app(kubectl: Any, ns: str, url: str, path: str, jsonnet: dict[str, Any]) -> None:
    source = {"directory": {"jsonnet": jsonnet}}
    apply_repo_and_app(kubectl, ns, url, path, automated={"prune": True}, source=source)


def not_ready(kubectl: Any, ns: str, reason: str, revision: str = "") -> Any:
    def check() -> Any:
        status = app_status(kubectl, ns)
        ready = {c["type"]: c for c in status.get("conditions") or ()}.get("Ready") or {}
        ok = ready.get("status") == "False" and ready.get("reason") == reason
        at = (status.get("sync") or {}).get("revision", "").endswith(revision)
        return ready if ok and at else NotYet(status)

    return check


def test_jsonnet_folder_with_tlas_syncs(
    operator: Operator, git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    path = f"{namespace}/jsonnet/app"
    lib = f"{namespace}/jsonnet/lib"
    git_server.push(
        {f"{path}/main.jsonnet": APP, f"{path}/extra.jsonnet": EXTRA, f"{lib}/k.libsonnet": LIB},
        message="jsonnet app",
    )
    jsonnet = {
        "tlas": [
            {"name": "name", "value": "web"},
            {"name": "port", "value": "8080", "code": True},
            {"name": "replicas", "value": "1 + 2", "code": True},
        ],
        "extVars": [{"name": "env", "value": "prod"}],
        "libs": [lib],
    }
    apply_jsonnet_app(kubectl, namespace, git_server.url(), path, jsonnet)
    wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=90)
    settings = kubectl.json("get", "configmap", "web-settings", "-n", namespace)
    assert settings["data"] == {"env": "prod", "replicas": "3"}
    service = kubectl.json("get", "service", "web", "-n", namespace)
    assert service["spec"]["ports"][0]["port"] == 8080
    for i in (1, 2, 3):
        extra = kubectl.json("get", "configmap", f"extra-{i}", "-n", namespace)
        assert extra["data"] == {"index": str(i)}
    resources = app_status(kubectl, namespace)["resources"]
    assert sorted(r["name"] for r in resources) == [
        "extra-1", "extra-2", "extra-3", "web", "web-settings",
    ]  # fmt: skip

    # Files that now give empty arrays: an empty render, which without allowEmpty
    # is reported and prunes nothing.
    empty = git_server.push(
        {f"{path}/main.jsonnet": "function(name, port=80, replicas=1) []\n",
         f"{path}/extra.jsonnet": "[]\n"},
        message="empty",
    )  # fmt: skip
    ready = wait_for("EmptyRender", not_ready(kubectl, namespace, "EmptyRender", empty), 90)
    assert "allowEmpty" in ready["message"]
    assert (
        kubectl.json("get", "configmap", "web-settings", "-n", namespace)["data"]["env"] == "prod"
    )
    assert kubectl.json("get", "service", "web", "-n", namespace)["metadata"]["name"] == "web"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"main.jsonnet": "{\n  apiVersion: 'v1',\n  kind: std.extVar('kind'),\n}\n"},
         "main.jsonnet:3:9: undefined external variable: kind"),
        ({"main.jsonnet": "importstr '/etc/passwd'\n"},
         "main.jsonnet:1:1: import '/etc/passwd' refused: an absolute path leaves the repository"),
    ],
)  # fmt: skip
def test_jsonnet_failure_reaches_status_with_file_and_line(
    operator: Operator,
    git_server: GitServer,
    kubectl: Any,
    namespace: str,
    files: dict[str, str],
    message: str,
) -> None:
    path = f"{namespace}/jsonnet-bad"
    git_server.push({f"{path}/{name}": text for name, text in files.items()}, message="bad")
    apply_jsonnet_app(kubectl, namespace, git_server.url(), path, {})
    ready = wait_for("RenderFailed", not_ready(kubectl, namespace, "RenderFailed"), timeout=60)
    assert ready["message"].endswith(f"{path}/{message}"), ready["message"]
