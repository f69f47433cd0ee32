"""Pod health, including hook pods with restartPolicy Never / OnFailure."""

from __future__ import annotations

from typing import Any

import pytest

from tether.health import HealthStatus, assess


def pod(
    phase: str | None,
    *,
    policy: str | None = None,
    ready: bool | None = None,
    waiting: str | None = None,
    init_waiting: str | None = None,
    deleting: bool = False,
    message: str | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if phase is not None:
        status["phase"] = phase
    if ready is not None:
        status["conditions"] = [
            {"type": "PodScheduled", "status": "True"},
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": "ContainersNotReady" if not ready else "",
            },
        ]
    if waiting is not None:
        status["containerStatuses"] = [
            {
                "name": "app",
                "ready": False,
                "restartCount": 4,
                "state": {
                    "waiting": {
                        "reason": waiting,
                        "message": "back-off 40s restarting failed container",
                    }
                },
            }
        ]
    if init_waiting is not None:
        status["initContainerStatuses"] = [
            {"name": "init", "state": {"waiting": {"reason": init_waiting}}}
        ]
    if message is not None:
        status["message"] = message
    meta: dict[str, Any] = {"name": "p", "namespace": "n"}
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T10:00:00Z"
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "busybox"}]}
    if policy is not None:
        spec["restartPolicy"] = policy
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


H, P, D, U = (
    HealthStatus.HEALTHY,
    HealthStatus.PROGRESSING,
    HealthStatus.DEGRADED,
    HealthStatus.UNKNOWN,
)


@pytest.mark.parametrize(
    ("name", "obj", "expected", "message"),
    [
        ("running ready", pod("Running", ready=True), H, ""),
        ("running not ready", pod("Running", ready=False), P, "ContainersNotReady"),
        (
            "crashloop",
            pod("Running", ready=False, waiting="CrashLoopBackOff"),
            D,
            "CrashLoopBackOff",
        ),
        (
            "image pull backoff",
            pod("Pending", waiting="ImagePullBackOff"),
            D,
            "container app is ImagePullBackOff",
        ),
        ("err image pull", pod("Pending", waiting="ErrImagePull"), D, "ErrImagePull"),
        (
            "create config error",
            pod("Pending", waiting="CreateContainerConfigError"),
            D,
            "CreateContainerConfigError",
        ),
        ("init crash", pod("Pending", init_waiting="CrashLoopBackOff"), D, "container init"),
        ("container creating", pod("Pending", waiting="ContainerCreating"), P, ""),
        ("pending", pod("Pending"), P, "pending"),
        ("no status", pod(None), P, "no status"),
        ("succeeded", pod("Succeeded", policy="Never"), H, "completed"),
        ("succeeded despite old waiting", pod("Succeeded", waiting="CrashLoopBackOff"), H, ""),
        (
            "failed",
            pod("Failed", policy="Never", message="Pod was terminated: exit 1"),
            D,
            "exit 1",
        ),
        (
            "hook running never",
            pod("Running", policy="Never", ready=True),
            P,
            "restartPolicy Never",
        ),
        ("hook running onfailure", pod("Running", policy="OnFailure", ready=True), P, "OnFailure"),
        (
            "hook onfailure crashloop",
            pod("Running", policy="OnFailure", waiting="CrashLoopBackOff"),
            D,
            "",
        ),
        ("deleting", pod("Running", ready=True, deleting=True), P, "deleted"),
        ("unknown phase", pod("Unknown"), U, "Unknown"),
    ],
)
def test_pod_health(name: str, obj: dict[str, Any], expected: HealthStatus, message: str) -> None:
    result = assess(obj)
    assert result.status is expected, result
    assert message in result.message
