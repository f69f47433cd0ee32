"""Builders shared by the planner tests: objects, keys, stamped desired sets and plan views."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tether.identity import (
    BUILTIN_KINDS,
    AppRef,
    GroupKind,
    ResourceKey,
    StaticScope,
    resource_key,
    stamp,
    with_source_crds,
)
from tether.plan import Plan, Step

APP = AppRef("argo", "shop")
# Discovery as the tests see it: built-ins plus an installed Gadget CRD; Widget comes
# only from CRDs in the desired set.
DISCOVERY = StaticScope({**BUILTIN_KINDS, GroupKind("example.com", "Gadget"): True})
DEST = "prod"

API_VERSIONS = {
    "Namespace": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "ServiceAccount": "v1",
    "Pod": "v1",
    "PersistentVolumeClaim": "v1",
    "ResourceQuota": "v1",
    "LimitRange": "v1",
    "PersistentVolume": "v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Ingress": "networking.k8s.io/v1",
    "IngressClass": "networking.k8s.io/v1",
    "PodDisruptionBudget": "policy/v1",
    "StorageClass": "storage.k8s.io/v1",
    "CustomResourceDefinition": "apiextensions.k8s.io/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "APIService": "apiregistration.k8s.io/v1",
    "Widget": "example.com/v1",
    "Gadget": "example.com/v1",
}


def make(
    kind: str, name: str, namespace: str | None = None, annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": API_VERSIONS[kind], "kind": kind, "metadata": meta}


def annotated(obj: dict[str, Any], annotations: Mapping[str, str]) -> dict[str, Any]:
    meta = dict(obj["metadata"])
    meta["annotations"] = {**meta.get("annotations", {}), **annotations}
    return {**obj, "metadata": meta}


def crd(group: str, kind: str, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    obj = make("CustomResourceDefinition", f"{kind.lower()}s.{group}")
    obj["spec"] = {
        "group": group,
        "scope": "Namespaced",
        "names": {"kind": kind, "plural": kind.lower() + "s"},
    }
    return annotated(obj, annotations) if annotations else obj


def desired(objects: Sequence[Mapping[str, Any]]) -> list[tuple[ResourceKey, dict[str, Any]]]:
    scope = with_source_crds(DISCOVERY, objects)
    out = []
    for obj in objects:
        key = resource_key(obj, scope, DEST)
        out.append((key, stamp(obj, APP, key)))
    return out


def live_of(
    objects: Sequence[Mapping[str, Any]], app: AppRef = APP
) -> dict[ResourceKey, dict[str, Any]]:
    """Objects as they would be live after an earlier sync by ``app``."""
    return dict(desired_for(objects, app))


def desired_for(
    objects: Sequence[Mapping[str, Any]], app: AppRef
) -> list[tuple[ResourceKey, dict[str, Any]]]:
    scope = with_source_crds(DISCOVERY, objects)
    return [
        (key, stamp(obj, app, key)) for obj in objects for key in [resource_key(obj, scope, DEST)]
    ]


def layout(plan: Plan | Sequence[Step]) -> list[tuple[str, int, str, list[str]]]:
    """Steps as (phase, wave, purpose, ["action kind/name", ...]) for readable assertions."""
    steps = plan.steps if isinstance(plan, Plan) else plan
    return [
        (
            s.phase.value,
            s.wave,
            s.purpose.value,
            [f"{t.action.value} {t.key.kind}/{t.key.name}" for t in s.tasks],
        )
        for s in steps
    ]


def names(plan: Plan) -> list[str]:
    return [f"{t.key.kind}/{t.key.name}" for t in plan.tasks()]
