"""Built-in health checks per kind, against realistic status blobs."""

from __future__ import annotations

from typing import Any

import pytest

from tether.health import HealthStatus, assess

H, P, D, S, U = (
    HealthStatus.HEALTHY,
    HealthStatus.PROGRESSING,
    HealthStatus.DEGRADED,
    HealthStatus.SUSPENDED,
    HealthStatus.UNKNOWN,
)


def cond(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def make(
    api_version: str, kind: str, spec: Any = None, status: Any = None, **meta: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "x", **meta},
    }
    if spec is not None:
        obj["spec"] = spec
    if status is not None:
        obj["status"] = status
    return obj


def deploy(
    spec: dict[str, Any], status: dict[str, Any] | None, generation: int = 2
) -> dict[str, Any]:
    return make("apps/v1", "Deployment", spec, status, generation=generation)


DEPLOY_DONE = {
    "observedGeneration": 2,
    "replicas": 3,
    "updatedReplicas": 3,
    "readyReplicas": 3,
    "availableReplicas": 3,
    "conditions": [
        cond("Available", "True", "MinimumReplicasAvailable"),
        cond("Progressing", "True", "NewReplicaSetAvailable"),
    ],
}

CASES: list[tuple[str, dict[str, Any], HealthStatus, str]] = [
    ("deploy complete", deploy({"replicas": 3}, DEPLOY_DONE), H, ""),
    ("deploy paused", deploy({"replicas": 3, "paused": True}, DEPLOY_DONE), S, "paused"),
    ("deploy no status", deploy({"replicas": 1}, None, generation=1), P, "observe"),
    (
        "deploy old generation",
        deploy({"replicas": 3}, {**DEPLOY_DONE, "observedGeneration": 1}, 2),
        P,
        "observe",
    ),
    (
        "deploy deadline",
        deploy(
            {"replicas": 3},
            {
                **DEPLOY_DONE,
                "updatedReplicas": 1,
                "conditions": [
                    cond(
                        "Progressing",
                        "False",
                        "ProgressDeadlineExceeded",
                        'ReplicaSet "web-7d" has timed out progressing.',
                    )
                ],
            },
        ),
        D,
        "timed out",
    ),
    (
        "deploy updating",
        deploy({"replicas": 3}, {**DEPLOY_DONE, "updatedReplicas": 1}),
        P,
        "1 of 3 replicas updated",
    ),
    ("deploy old pods", deploy({"replicas": 3}, {**DEPLOY_DONE, "replicas": 4}), P, "old replicas"),
    (
        "deploy unavailable",
        deploy({"replicas": 3}, {**DEPLOY_DONE, "availableReplicas": 2}),
        P,
        "2 of 3",
    ),
    (
        "deploy default replicas",
        deploy({}, {**DEPLOY_DONE, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}),
        H,
        "",
    ),
    ("deploy scaled to zero", deploy({"replicas": 0}, {"observedGeneration": 2}), H, ""),
    (
        "sts ready",
        make(
            "apps/v1",
            "StatefulSet",
            {"replicas": 2},
            {
                "observedGeneration": 1,
                "readyReplicas": 2,
                "updatedReplicas": 2,
                "currentRevision": "db-1",
                "updateRevision": "db-1",
            },
            generation=1,
        ),
        H,
        "",
    ),
    (
        "sts not ready",
        make(
            "apps/v1",
            "StatefulSet",
            {"replicas": 2},
            {"observedGeneration": 1, "readyReplicas": 1},
            generation=1,
        ),
        P,
        "1 of 2",
    ),
    (
        "sts rolling",
        make(
            "apps/v1",
            "StatefulSet",
            {"replicas": 2},
            {
                "observedGeneration": 1,
                "readyReplicas": 2,
                "updatedReplicas": 1,
                "currentRevision": "db-1",
                "updateRevision": "db-2",
            },
            generation=1,
        ),
        P,
        "db-2",
    ),
    (
        "sts partition done",
        make(
            "apps/v1",
            "StatefulSet",
            {
                "replicas": 4,
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            },
            {
                "observedGeneration": 1,
                "readyReplicas": 4,
                "updatedReplicas": 2,
                "currentRevision": "a",
                "updateRevision": "b",
            },
            generation=1,
        ),
        H,
        "partitioned",
    ),
    (
        "sts partition pending",
        make(
            "apps/v1",
            "StatefulSet",
            {
                "replicas": 4,
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            },
            {"observedGeneration": 1, "readyReplicas": 4, "updatedReplicas": 1},
            generation=1,
        ),
        P,
        "partitioned",
    ),
    (
        "sts on delete",
        make(
            "apps/v1",
            "StatefulSet",
            {"replicas": 1, "updateStrategy": {"type": "OnDelete"}},
            {
                "observedGeneration": 1,
                "readyReplicas": 1,
                "currentRevision": "a",
                "updateRevision": "b",
            },
            generation=1,
        ),
        H,
        "OnDelete",
    ),
    (
        "ds done",
        make(
            "apps/v1",
            "DaemonSet",
            {},
            {
                "observedGeneration": 3,
                "desiredNumberScheduled": 5,
                "updatedNumberScheduled": 5,
                "numberAvailable": 5,
            },
            generation=3,
        ),
        H,
        "",
    ),
    (
        "ds updating",
        make(
            "apps/v1",
            "DaemonSet",
            {},
            {
                "observedGeneration": 3,
                "desiredNumberScheduled": 5,
                "updatedNumberScheduled": 3,
                "numberAvailable": 5,
            },
            generation=3,
        ),
        P,
        "3 of 5",
    ),
    (
        "ds unavailable",
        make(
            "apps/v1",
            "DaemonSet",
            {},
            {
                "observedGeneration": 3,
                "desiredNumberScheduled": 5,
                "updatedNumberScheduled": 5,
                "numberAvailable": 4,
            },
            generation=3,
        ),
        P,
        "4 of 5",
    ),
    (
        "ds stale",
        make(
            "apps/v1",
            "DaemonSet",
            {},
            {
                "observedGeneration": 2,
                "desiredNumberScheduled": 5,
                "updatedNumberScheduled": 5,
                "numberAvailable": 5,
            },
            generation=3,
        ),
        P,
        "observe",
    ),
    (
        "rs available",
        make(
            "apps/v1",
            "ReplicaSet",
            {"replicas": 2},
            {"observedGeneration": 1, "replicas": 2, "availableReplicas": 2},
            generation=1,
        ),
        H,
        "",
    ),
    (
        "rs failure",
        make(
            "apps/v1",
            "ReplicaSet",
            {"replicas": 2},
            {
                "observedGeneration": 1,
                "conditions": [
                    cond(
                        "ReplicaFailure",
                        "True",
                        "FailedCreate",
                        'pods "web-" is forbidden: exceeded quota',
                    )
                ],
            },
            generation=1,
        ),
        D,
        "exceeded quota",
    ),
    (
        "rs waiting",
        make(
            "apps/v1",
            "ReplicaSet",
            {"replicas": 2},
            {"observedGeneration": 1, "availableReplicas": 1},
            generation=1,
        ),
        P,
        "1 of 2",
    ),
    ("pvc bound", make("v1", "PersistentVolumeClaim", {}, {"phase": "Bound"}), H, ""),
    ("pvc pending", make("v1", "PersistentVolumeClaim", {}, {"phase": "Pending"}), P, "bound"),
    ("pvc new", make("v1", "PersistentVolumeClaim", {}), P, "bound"),
    ("pvc lost", make("v1", "PersistentVolumeClaim", {}, {"phase": "Lost"}), D, "lost"),
    ("svc cluster ip", make("v1", "Service", {"type": "ClusterIP"}, {"loadBalancer": {}}), H, ""),
    (
        "svc lb pending",
        make("v1", "Service", {"type": "LoadBalancer"}, {"loadBalancer": {}}),
        P,
        "address",
    ),
    (
        "svc lb ip",
        make(
            "v1",
            "Service",
            {"type": "LoadBalancer"},
            {"loadBalancer": {"ingress": [{"ip": "10.0.0.7"}]}},
        ),
        H,
        "",
    ),
    (
        "svc lb hostname",
        make(
            "v1",
            "Service",
            {"type": "LoadBalancer"},
            {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}},
        ),
        H,
        "",
    ),
    (
        "svc lb empty entry",
        make("v1", "Service", {"type": "LoadBalancer"}, {"loadBalancer": {"ingress": [{}]}}),
        P,
        "address",
    ),
    (
        "ingress no address",
        make("networking.k8s.io/v1", "Ingress", {}, {"loadBalancer": {}}),
        P,
        "address",
    ),
    (
        "ingress address",
        make(
            "networking.k8s.io/v1",
            "Ingress",
            {},
            {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
        ),
        H,
        "",
    ),
    (
        "job complete",
        make("batch/v1", "Job", {}, {"succeeded": 1, "conditions": [cond("Complete", "True")]}),
        H,
        "",
    ),
    (
        "job success criteria",
        make("batch/v1", "Job", {}, {"conditions": [cond("SuccessCriteriaMet", "True")]}),
        H,
        "",
    ),
    (
        "job failed",
        make(
            "batch/v1",
            "Job",
            {},
            {
                "failed": 6,
                "conditions": [
                    cond(
                        "Failed",
                        "True",
                        "BackoffLimitExceeded",
                        "Job has reached the specified backoff limit",
                    )
                ],
            },
        ),
        D,
        "backoff limit",
    ),
    (
        "job failure target",
        make(
            "batch/v1",
            "Job",
            {},
            {"conditions": [cond("FailureTarget", "True", "DeadlineExceeded")]},
        ),
        D,
        "DeadlineExceeded",
    ),
    (
        "job suspended",
        make("batch/v1", "Job", {"suspend": True}, {"conditions": [cond("Suspended", "True")]}),
        S,
        "suspended",
    ),
    ("job running", make("batch/v1", "Job", {}, {"active": 1}), P, "running"),
    ("cronjob suspended", make("batch/v1", "CronJob", {"suspend": True}, {}), S, "suspended"),
    ("cronjob never ran", make("batch/v1", "CronJob", {"schedule": "* * * * *"}, {}), H, ""),
    (
        "cronjob active",
        make(
            "batch/v1",
            "CronJob",
            {},
            {"active": [{"name": "j"}], "lastScheduleTime": "2024-05-01T10:00:00Z"},
        ),
        H,
        "running",
    ),
    (
        "cronjob ok",
        make(
            "batch/v1",
            "CronJob",
            {},
            {
                "lastScheduleTime": "2024-05-01T10:00:00Z",
                "lastSuccessfulTime": "2024-05-01T10:00:12Z",
            },
        ),
        H,
        "",
    ),
    (
        "cronjob last failed",
        make(
            "batch/v1",
            "CronJob",
            {},
            {
                "lastScheduleTime": "2024-05-01T11:00:00Z",
                "lastSuccessfulTime": "2024-05-01T10:00:12Z",
            },
        ),
        D,
        "did not succeed",
    ),
    (
        "cronjob never succeeded",
        make("batch/v1", "CronJob", {}, {"lastScheduleTime": "2024-05-01T11:00:00Z"}),
        D,
        "did not succeed",
    ),
    (
        "crd established",
        make(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            {},
            {
                "conditions": [
                    cond("NamesAccepted", "True", "NoConflicts"),
                    cond("Established", "True", "InitialNamesAccepted"),
                ]
            },
        ),
        H,
        "",
    ),
    (
        "crd names conflict",
        make(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            {},
            {
                "conditions": [
                    cond("NamesAccepted", "False", "KindConflict", '"Widget" is already in use')
                ]
            },
        ),
        D,
        "already in use",
    ),
    (
        "crd not established",
        make(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            {},
            {
                "conditions": [
                    cond("NamesAccepted", "True"),
                    cond("Established", "False", "Installing"),
                ]
            },
        ),
        P,
        "established",
    ),
    (
        "crd terminating",
        make(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            {},
            {
                "conditions": [
                    cond("Established", "True"),
                    cond("NamesAccepted", "True"),
                    cond("Terminating", "True"),
                ]
            },
        ),
        P,
        "deleted",
    ),
    (
        "apiservice available",
        make(
            "apiregistration.k8s.io/v1",
            "APIService",
            {},
            {"conditions": [cond("Available", "True", "Passed")]},
        ),
        H,
        "",
    ),
    (
        "apiservice down",
        make(
            "apiregistration.k8s.io/v1",
            "APIService",
            {},
            {
                "conditions": [
                    cond(
                        "Available",
                        "False",
                        "MissingEndpoints",
                        "endpoints for service/metrics-server in kube-system have no addresses",
                    )
                ]
            },
        ),
        P,
        "no addresses",
    ),
    ("hpa new", make("autoscaling/v2", "HorizontalPodAutoscaler", {}), P, "observe"),
    (
        "hpa ok",
        make(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            {},
            {
                "currentReplicas": 2,
                "conditions": [
                    cond("AbleToScale", "True", "ReadyForNewScale"),
                    cond("ScalingActive", "True", "ValidMetricFound"),
                    cond("ScalingLimited", "True", "TooFewReplicas"),
                ],
            },
        ),
        H,
        "",
    ),
    (
        "hpa no metrics",
        make(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            {},
            {
                "conditions": [
                    cond("AbleToScale", "True"),
                    cond(
                        "ScalingActive",
                        "False",
                        "FailedGetResourceMetric",
                        "unable to get metrics for resource cpu",
                    ),
                ]
            },
        ),
        D,
        "unable to get metrics",
    ),
    (
        "hpa disabled",
        make(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            {},
            {
                "conditions": [
                    cond(
                        "ScalingActive",
                        "False",
                        "ScalingDisabled",
                        "scaling is disabled since the replica count of the target is zero",
                    )
                ]
            },
        ),
        S,
        "disabled",
    ),
    (
        "hpa cannot scale",
        make(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            {},
            {"conditions": [cond("AbleToScale", "False", "FailedGetScale")]},
        ),
        D,
        "FailedGetScale",
    ),
    ("ns active", make("v1", "Namespace", {}, {"phase": "Active"}), H, ""),
    ("ns terminating", make("v1", "Namespace", {}, {"phase": "Terminating"}), P, "terminating"),
    ("ns no status", make("v1", "Namespace"), H, ""),
]


@pytest.mark.parametrize(("name", "obj", "status", "message"), CASES, ids=[c[0] for c in CASES])
def test_builtin_health(name: str, obj: dict[str, Any], status: HealthStatus, message: str) -> None:
    result = assess(obj)
    assert result.status is status, result
    assert message in result.message


def test_absent_object_is_missing() -> None:
    assert assess(None).status is HealthStatus.MISSING


def test_mistyped_fields_do_not_crash_checks() -> None:
    weird = deploy(
        {"replicas": "three", "paused": "yes"}, {"observedGeneration": True, "conditions": "nope"}
    )
    assert assess(weird).status is HealthStatus.PROGRESSING
    assert assess(make("apps/v1", "StatefulSet", [], "broken")).status is HealthStatus.PROGRESSING
