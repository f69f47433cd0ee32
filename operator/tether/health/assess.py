"""Assess one object's health: custom CEL rule first, then the built-in check for its
kind, then the generic kstatus rules. An object that is not live is Missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import batch, cluster, kstatus, network, pods, workloads
from .cel import EMPTY_RULES, RuleSet
from .status import HealthResult, HealthStatus

Check = Callable[[Mapping[str, Any]], HealthResult]

BUILTIN_CHECKS: Mapping[tuple[str, str], Check] = {
    ("apps", "Deployment"): workloads.deployment,
    ("apps", "StatefulSet"): workloads.stateful_set,
    ("apps", "DaemonSet"): workloads.daemon_set,
    ("apps", "ReplicaSet"): workloads.replica_set,
    ("", "Pod"): pods.pod,
    ("", "PersistentVolumeClaim"): cluster.persistent_volume_claim,
    ("", "Service"): network.service,
    ("networking.k8s.io", "Ingress"): network.ingress,
    ("batch", "Job"): batch.job,
    ("batch", "CronJob"): batch.cron_job,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): cluster.custom_resource_definition,
    ("apiregistration.k8s.io", "APIService"): cluster.api_service,
    ("autoscaling", "HorizontalPodAutoscaler"): cluster.horizontal_pod_autoscaler,
    ("", "Namespace"): cluster.namespace,
}
"""Built-in checks by (API group, kind)."""


def _group_kind(obj: Mapping[str, Any]) -> tuple[str, str]:
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    group = api_version.rpartition("/")[0] if isinstance(api_version, str) else ""
    return group, kind if isinstance(kind, str) else ""


def assess(obj: Mapping[str, Any] | None, rules: RuleSet = EMPTY_RULES) -> HealthResult:
    """The health of a live object (None when it is not in the cluster)."""
    if obj is None:
        return HealthResult(HealthStatus.MISSING, "object is not in the cluster")
    group, kind = _group_kind(obj)
    rule = rules.for_kind(group, kind)
    if rule is not None:
        result = rule.evaluate(obj)
        if result is not None:
            return result
    check = BUILTIN_CHECKS.get((group, kind), kstatus.generic)
    return check(obj)
