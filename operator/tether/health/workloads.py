"""Health of the apps/v1 workload controllers: Deployment, StatefulSet, DaemonSet, ReplicaSet.

The rules follow what ``kubectl rollout status`` waits for: the controller has seen the
latest spec, every replica runs the new template, and enough of them are available.
"""

from __future__ import annotations

from .fields import (
    Obj,
    condition,
    condition_is,
    condition_message,
    generation_observed,
    integer,
    path,
    text,
)
from .status import HealthResult, degraded, healthy, progressing, suspended

_NOT_OBSERVED = "waiting for the controller to observe the latest spec"


def deployment(obj: Obj) -> HealthResult:
    if path(obj, "spec", "paused") is True:
        return suspended("deployment is paused")
    if not generation_observed(obj, require=True):
        return progressing(_NOT_OBSERVED)
    cond = condition(obj, "Progressing")
    if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
        return degraded(condition_message(cond, "progress deadline exceeded"))
    wanted = integer(obj, "spec", "replicas", default=1)
    updated = integer(obj, "status", "updatedReplicas")
    total = integer(obj, "status", "replicas")
    available = integer(obj, "status", "availableReplicas")
    if updated < wanted:
        return progressing(f"{updated} of {wanted} replicas updated")
    if total > updated:
        return progressing(f"{total - updated} old replicas pending termination")
    if available < updated:
        return progressing(f"{available} of {updated} updated replicas available")
    return healthy()


def stateful_set(obj: Obj) -> HealthResult:
    if not generation_observed(obj, require=True):
        return progressing(_NOT_OBSERVED)
    wanted = integer(obj, "spec", "replicas", default=1)
    ready = integer(obj, "status", "readyReplicas")
    if ready < wanted:
        return progressing(f"{ready} of {wanted} replicas ready")
    if text(obj, "spec", "updateStrategy", "type") == "OnDelete":
        return healthy("OnDelete update strategy: rollout not tracked")
    partition = integer(obj, "spec", "updateStrategy", "rollingUpdate", "partition")
    updated = integer(obj, "status", "updatedReplicas")
    if partition > 0:
        if updated < wanted - partition:
            return progressing(f"{updated} of {wanted - partition} replicas updated (partitioned)")
        return healthy("partitioned rollout complete")
    update_rev, current_rev = (
        text(obj, "status", "updateRevision"),
        text(obj, "status", "currentRevision"),
    )
    if update_rev and update_rev != current_rev:
        return progressing(f"{updated} of {wanted} replicas updated to revision {update_rev}")
    return healthy()


def daemon_set(obj: Obj) -> HealthResult:
    if not generation_observed(obj, require=True):
        return progressing(_NOT_OBSERVED)
    if text(obj, "spec", "updateStrategy", "type") == "OnDelete":
        return healthy("OnDelete update strategy: rollout not tracked")
    desired = integer(obj, "status", "desiredNumberScheduled")
    updated = integer(obj, "status", "updatedNumberScheduled")
    available = integer(obj, "status", "numberAvailable")
    if updated < desired:
        return progressing(f"{updated} of {desired} pods updated")
    if available < desired:
        return progressing(f"{available} of {desired} updated pods available")
    return healthy()


def replica_set(obj: Obj) -> HealthResult:
    if not generation_observed(obj, require=True):
        return progressing(_NOT_OBSERVED)
    if condition_is(obj, "ReplicaFailure", "True"):
        return degraded(condition_message(condition(obj, "ReplicaFailure"), "replica failure"))
    wanted = integer(obj, "spec", "replicas", default=1)
    available = integer(obj, "status", "availableReplicas")
    if available < wanted:
        return progressing(f"{available} of {wanted} replicas available")
    return healthy()
