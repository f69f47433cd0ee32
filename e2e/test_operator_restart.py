"""Operator scenarios that need their own operator process: SIGKILL mid-sync and
resume, and sync waves with a PostSync hook gated on health.

Each test starts and stops its own ``tether run`` (with the chart ServiceAccount's
credentials from ``operator_helpers.installed``).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))

from operator_helpers import (
    POST_SYNC_JOB,
    GitServer,
    NotYet,
    Operator,
    app_status,
    apply_repo_and_app,
    git_server,
    installed,
    own_operator,
    start_operator,
    synced_healthy,
    wait_for,
    wave_cm,
    wave_deployment,
)

pytestmark = pytest.mark.cluster

__all__ = ["git_server", "installed", "own_operator"]


def test_waves_and_post_sync_hook_run_in_order(
    own_operator: list[Operator], git_server: GitServer, kubectl: Any, namespace: str
) -> None:
    path = f"{namespace}/waves"
    git_server.push(
        {
            f"{path}/deploy.yaml": wave_deployment("web", 0),
            f"{path}/after.yaml": wave_cm("after", 1),
            f"{path}/job.yaml": POST_SYNC_JOB,
        },
        message="waves",
    )
    apply_repo_and_app(kubectl, namespace, git_server.url(), path, automated={"prune": True})
    wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=120)
    deploy = kubectl.json("get", "deployment", "web", "-n", namespace)
    available = next(
        c["lastTransitionTime"]
        for c in deploy["status"]["conditions"]
        if c["type"] == "Available" and c["status"] == "True"
    )
    after = kubectl.json("get", "configmap", "after", "-n", namespace)["metadata"][
        "creationTimestamp"
    ]
    job = kubectl.json("get", "job", "smoke", "-n", namespace)
    assert after >= available, "wave 1 was applied before wave 0 was healthy"
    assert job["metadata"]["creationTimestamp"] >= after, "the PostSync hook ran before the sync"
    assert job["status"].get("succeeded") == 1
    status = app_status(kubectl, namespace)
    assert status["operationState"]["phase"] == "Succeeded"


def test_sigkill_mid_sync_resumes_and_converges(
    own_operator: list[Operator],
    installed: Path,
    git_server: GitServer,
    kubectl: Any,
    namespace: str,
) -> None:
    label = f"tether-e2e-{namespace[-6:]}"
    path = f"{namespace}/resume"
    git_server.push(
        {
            f"{path}/deploy.yaml": wave_deployment("gated", 0, label),
            f"{path}/after.yaml": wave_cm("after", 1),
        },
        message="gated",
    )
    apply_repo_and_app(kubectl, namespace, git_server.url(), path, automated={"prune": True})

    def running() -> Any:
        status = app_status(kubectl, namespace)
        op = status.get("operationState") or {}
        applied = (
            kubectl.run("get", "deployment", "gated", "-n", namespace, check=False).returncode == 0
        )
        return status if op.get("phase") == "Running" and applied else NotYet(status)

    wait_for("the sync to wait at the wave-0 health gate", running, timeout=60)
    before = app_status(kubectl, namespace)["operationState"]
    op = own_operator[0]
    op.process.send_signal(signal.SIGKILL)
    op.process.wait(10)
    assert kubectl.run("get", "configmap", "after", "-n", namespace, check=False).returncode != 0
    own_operator.append(start_operator(installed, op.log.parent))
    nodes = kubectl.json("get", "nodes")["items"]
    kubectl.run("label", "node", nodes[0]["metadata"]["name"], f"{label}=yes")
    try:
        status = wait_for(
            "Synced and Healthy after the restart", synced_healthy(kubectl, namespace), timeout=120
        )
    finally:
        kubectl.run("label", "node", nodes[0]["metadata"]["name"], f"{label}-", check=False)
    after_op = status["operationState"]
    assert after_op["phase"] == "Succeeded"
    assert after_op["startedAt"] == before["startedAt"], "the sync was restarted, not resumed"
    assert kubectl.json("get", "configmap", "after", "-n", namespace)["data"]["key"] == "w"
    assert len(status["history"]) == 1
