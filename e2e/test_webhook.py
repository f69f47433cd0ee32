"""Push -> Synced through a webhook, with the Repository polling only every 10 minutes.

The operator runs with the chart's ServiceAccount and ``--webhook-port``; Git is a real
``git daemon``; the commit is pushed with the git CLI and the GitHub-style delivery is
signed with the Repository's own webhook Secret (``spec.webhook.secretRef``), read by
the operator from the API server. The Repository's interval is 10 minutes, so the new
revision showing up within a minute can only come from the webhook, and the operator
says so positively: a ``WebhookReceived`` Event on the Repository and the accepted
count in ``tether_webhook_requests_total``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from operator_helpers import (
    GitServer,
    NotYet,
    Operator,
    app_status,
    apply_repo_and_app,
    configmap,
    free_port,
    git,
    git_server,
    installed,
    post_webhook,
    start_operator,
    stop_operator,
    synced_healthy,
    wait_for,
)
from tether.webhook.providers import sign

pytestmark = pytest.mark.cluster

__all__ = ["git_server", "installed"]  # fixtures used here

SECRET = "e2e-webhook-secret-5f1c"


class HookedOperator:
    def __init__(self, op: Operator, port: int) -> None:
        self.op = op
        self.port = port

    def post(self, provider: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        return post_webhook(self.port, provider, body, headers)

    def count(self, outcome: str) -> float:
        for line in self.op.metrics().splitlines():
            if line.startswith("tether_webhook_requests_total{") and (
                f'outcome="{outcome}"' in line and 'provider="github"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@pytest.fixture(scope="module")
def hooked(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HookedOperator]:
    port = free_port()
    op = start_operator(
        installed,
        tmp_path_factory.mktemp("operator-webhook"),
        f"--webhook-port={port}",
        "--webhook-host=127.0.0.1",
    )
    try:
        yield HookedOperator(op, port)
    finally:
        stop_operator(op)


def github_push(ref: str = "refs/heads/main") -> bytes:
    """GitHub names the repository by its https and ssh URLs; the Repository says
    git://127.0.0.1:PORT/apps.git. Different spellings of one repository must match."""
    return json.dumps(
        {
            "ref": ref,
            "repository": {
                "clone_url": "https://127.0.0.1/apps.git",
                "ssh_url": "git@127.0.0.1:apps.git",
                "html_url": "https://127.0.0.1/apps",
            },
        }
    ).encode()


def repo_revision(kubectl: Any, ns: str) -> str:
    status = kubectl.json("get", "repositories.tether.dev", "repo", "-n", ns).get("status") or {}
    return "".join(r["resolved"] for r in status.get("revisions") or () if r["revision"] == "main")


def test_a_signed_push_webhook_syncs_the_new_commit_long_before_the_interval(
    hooked: HookedOperator, git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    path = f"{namespace}/hooked"
    first = git_server.push({f"{path}/cm.yaml": configmap("settings", "one")}, message="v1")
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hook", "namespace": namespace},
            "stringData": {"token": SECRET},
        }
    )
    apply_repo_and_app(
        kubectl, namespace, git_server.url(), path, automated={"prune": True},
        repo_spec={"interval": "10m", "webhook": {"secretRef": {"name": "hook"}}},
        app_interval="10m",
    )  # fmt: skip
    status = wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=90)
    assert status["sync"]["revision"].endswith(first)

    second = git_server.push({f"{path}/cm.yaml": configmap("settings", "two")}, message="v2")
    assert second == git("rev-parse", "HEAD", cwd=git_server.work) and second != first
    body = github_push()

    # A wrong signature is refused at once and queues nothing.
    forged = {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(body, b"not-the-secret")}
    status_code, answer = hooked.post("github", body, forged)
    assert status_code == 401, answer
    assert hooked.count("unauthorized") == 1
    assert repo_revision(kubectl, namespace).endswith(first)

    signed = {
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": sign(body, SECRET.encode()),
        "Content-Type": "application/json",
    }
    status_code, answer = hooked.post("github", body, signed)
    assert status_code == 202, answer
    assert answer["refreshed"] == [f"{namespace}/repo"]

    def synced_at_second() -> Any:
        seen = app_status(kubectl, namespace)
        ok = (seen.get("sync") or {}).get("status") == "Synced" and str(
            (seen.get("sync") or {}).get("revision")
        ).endswith(second)
        return seen if ok else NotYet(seen)

    # 60 s against a 10 min interval: only the webhook can have moved it.
    wait_for("Synced at the pushed commit", synced_at_second, timeout=60)
    assert repo_revision(kubectl, namespace).endswith(second)
    cm = kubectl.json("get", "configmap", "settings", "-n", namespace)
    assert cm["data"] == {"key": "two"}
    assert hooked.count("accepted") == 1
    events = kubectl.json(
        "get", "events", "-n", namespace, "--field-selector", "reason=WebhookReceived"
    )["items"]
    assert [e["involvedObject"]["name"] for e in events] == ["repo"]
    assert "github webhook: push of refs/heads/main" in events[0]["message"]
    assert SECRET not in hooked.op.logs()
