"""Ordering within a wave: kinds that others depend on come first, names break ties.

The kind order is fixed (Namespace ... APIService), matched on API group and kind;
every other kind, custom resources included, follows in (group, kind) order. Prunes
run in the reverse order, so dependents go before what they depend on.
"""

from __future__ import annotations

from ..identity import GroupKind, ResourceKey

_CORE, _APPS, _BATCH = "", "apps", "batch"
_NET, _RBAC = "networking.k8s.io", "rbac.authorization.k8s.io"

KIND_ORDER: tuple[GroupKind, ...] = tuple(
    GroupKind(g, k)
    for g, k in (
        (_CORE, "Namespace"),
        (_NET, "NetworkPolicy"),
        (_CORE, "ResourceQuota"),
        (_CORE, "LimitRange"),
        ("policy", "PodDisruptionBudget"),
        (_CORE, "ServiceAccount"),
        (_CORE, "Secret"),
        (_CORE, "ConfigMap"),
        ("storage.k8s.io", "StorageClass"),
        (_CORE, "PersistentVolume"),
        (_CORE, "PersistentVolumeClaim"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        (_RBAC, "ClusterRole"),
        (_RBAC, "ClusterRoleBinding"),
        (_RBAC, "Role"),
        (_RBAC, "RoleBinding"),
        (_CORE, "Service"),
        (_APPS, "DaemonSet"),
        (_CORE, "Pod"),
        (_APPS, "ReplicaSet"),
        (_APPS, "Deployment"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        (_APPS, "StatefulSet"),
        (_BATCH, "Job"),
        (_BATCH, "CronJob"),
        (_NET, "IngressClass"),
        (_NET, "Ingress"),
        ("apiregistration.k8s.io", "APIService"),
    )
)
_RANK = {gk: i for i, gk in enumerate(KIND_ORDER)}

NAMESPACE = GroupKind("", "Namespace")
CRD = GroupKind("apiextensions.k8s.io", "CustomResourceDefinition")
PREREQUISITE_KINDS = frozenset({NAMESPACE, CRD})


def kind_rank(group_kind: GroupKind) -> int:
    return _RANK.get(group_kind, len(KIND_ORDER))


def sort_key(key: ResourceKey) -> tuple[int, str, str, str, str]:
    """Kind order, then group and kind for the others, then name, then namespace."""
    return (kind_rank(key.group_kind), key.group, key.kind, key.name, key.namespace)
