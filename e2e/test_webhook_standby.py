"""A webhook that reaches a leader-election standby still refreshes the Repository.

Two operators with ``--leader-election``: the first holds the Lease, the second is a
warm standby whose workers do not run. The webhook Service balances over both, so a
delivery may land on the standby; it sets the ``tether.dev/refresh`` annotation, and
the leader's watch turns that into the refresh. The positive signal is the
Repository's ``lastHandledRefresh``: the standby's ``webhook-...`` value, handled.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from operator_helpers import (
    GitServer,
    NotYet,
    Operator,
    apply_repo_and_app,
    configmap,
    free_port,
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

SECRET = b"standby-global-secret-77"


def post(port: int, body: bytes) -> tuple[int, Any]:
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(body, SECRET)}
    return post_webhook(port, "github", body, headers)


@pytest.fixture
def pair(
    installed: Path, cluster: Any, kubectl: Any, namespace: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Operator, Operator, int]]:  # fmt: skip
    """(leader, standby, the standby's webhook port). The cluster admin's kubeconfig: the
    chart installed here has no Lease RBAC (leader election off), which is not the point."""
    monkeypatch.setenv("TETHER_WEBHOOK_SECRET", SECRET.decode())
    lease = ("--leader-election", f"--leader-election-namespace={namespace}")
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    ops: list[Operator] = []
    try:
        leader = start_operator(
            Path(cluster.kubeconfig), tmp_path / "a", *lease, f"--webhook-port={free_port()}",
            "--webhook-host=127.0.0.1",
        )  # fmt: skip
        ops.append(leader)
        identity = f"{socket.gethostname()}-{leader.process.pid}"

        def holds() -> Any:
            got = kubectl.json("get", "leases", "-n", namespace, "-o", "json")["items"]
            holders = [lease["spec"].get("holderIdentity") for lease in got]
            return holders == [identity] or NotYet(holders)

        wait_for("the first operator to hold the Lease", holds, timeout=60)
        port = free_port()
        standby = start_operator(
            Path(cluster.kubeconfig), tmp_path / "b", *lease, f"--webhook-port={port}",
            "--webhook-host=127.0.0.1",
        )  # fmt: skip
        ops.append(standby)
        yield leader, standby, port
    finally:
        for op in ops:
            stop_operator(op)


def test_a_webhook_on_the_standby_reaches_the_leader(
    pair: tuple[Operator, Operator, int], git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    _leader, standby, port = pair
    path = f"{namespace}/standby"
    git_server.push({f"{path}/cm.yaml": configmap("settings", "one")}, message="v1")
    apply_repo_and_app(
        kubectl, namespace, git_server.url(), path, automated={"prune": True},
        repo_spec={"interval": "10m"}, app_interval="10m",
    )  # fmt: skip
    wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=90)
    second = git_server.push({f"{path}/cm.yaml": configmap("settings", "two")}, message="v2")
    body = json.dumps(
        {"ref": "refs/heads/main", "repository": {"clone_url": git_server.url()}}
    ).encode()
    status, answer = post(port, body)
    assert status == 202, answer
    assert answer["refreshed"] == [f"{namespace}/repo"]

    def handled_by_the_leader() -> Any:
        repo = kubectl.json("get", "repositories.tether.dev", "repo", "-n", namespace)
        seen = repo.get("status") or {}
        stamp = (repo["metadata"].get("annotations") or {}).get("tether.dev/refresh", "")
        revisions = [r["resolved"] for r in seen.get("revisions") or ()]
        ok = (
            stamp.startswith("webhook-")
            and seen.get("lastHandledRefresh") == stamp
            and any(r.endswith(second) for r in revisions)
        )
        return seen if ok else NotYet({"annotation": stamp, **seen})

    wait_for("the leader to handle the standby's refresh", handled_by_the_leader, timeout=60)

    def applied() -> Any:
        data = kubectl.json("get", "configmap", "settings", "-n", namespace)["data"]
        return data == {"key": "two"} or NotYet(data)

    wait_for("the new commit applied", applied, timeout=60)
    accepted = 'tether_webhook_requests_total{outcome="accepted",provider="github"} 1.0'
    assert accepted in standby.metrics().splitlines()
