"""Health of a Pod, including one-shot hook pods (restartPolicy Never or OnFailure).

A long-running pod (restartPolicy Always) is Healthy once Running and Ready. A one-shot
pod is Progressing while it runs and Healthy only when it has Succeeded, so that a hook
pod gates its wave until it has finished. Any container stuck waiting for a reason that
names an error (CrashLoopBackOff, ImagePullBackOff, ErrImagePull, Err*, *Error) makes the
pod Degraded, unless the pod already succeeded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .fields import (
    Obj,
    condition,
    condition_is,
    condition_message,
    is_deleting,
    path,
    sequence,
    text,
)
from .status import HealthResult, degraded, healthy, progressing, unknown


def _is_error_reason(reason: str) -> bool:
    return reason.startswith("Err") or reason.endswith(("BackOff", "Error"))


def _container_statuses(obj: Obj) -> Iterator[Obj]:
    for field in ("initContainerStatuses", "containerStatuses"):
        for status in sequence(obj, "status", field):
            if isinstance(status, Mapping):
                yield status


def _waiting_error(obj: Obj) -> str | None:
    for status in _container_statuses(obj):
        waiting = path(status, "state", "waiting")
        if not isinstance(waiting, Mapping):
            continue
        reason = waiting.get("reason")
        if isinstance(reason, str) and _is_error_reason(reason):
            message = waiting.get("message")
            detail = f": {message}" if isinstance(message, str) and message else ""
            return f"container {status.get('name', '?')} is {reason}{detail}"
    return None


def pod(obj: Obj) -> HealthResult:
    phase = text(obj, "status", "phase")
    if phase == "Succeeded":
        return healthy(text(obj, "status", "message") or "pod completed")
    if phase == "Failed":
        return degraded(
            text(obj, "status", "message") or text(obj, "status", "reason") or "pod failed"
        )
    error = _waiting_error(obj)
    if error is not None:
        return degraded(error)
    if is_deleting(obj):
        return progressing("pod is being deleted")
    if phase == "Pending":
        return progressing(condition_message(condition(obj, "PodScheduled"), "pod is pending"))
    if phase == "Running":
        policy = text(obj, "spec", "restartPolicy") or "Always"
        if policy != "Always":
            return progressing(
                f"pod is running (restartPolicy {policy}: waiting for it to complete)"
            )
        if condition_is(obj, "Ready", "True"):
            return healthy()
        return progressing(condition_message(condition(obj, "Ready"), "pod is not ready"))
    if not phase:
        return progressing("pod has no status yet")
    return unknown(f"pod phase {phase}")
