"""Health of cluster plumbing: PVC, CRD, APIService, HorizontalPodAutoscaler, Namespace."""

from __future__ import annotations

from .fields import Obj, condition, condition_is, condition_message, is_deleting, path, text
from .status import HealthResult, degraded, healthy, progressing, suspended, unknown


def persistent_volume_claim(obj: Obj) -> HealthResult:
    phase = text(obj, "status", "phase")
    if phase == "Bound":
        return healthy()
    if phase == "Lost":
        return degraded("the claim lost its volume")
    if phase in ("Pending", ""):
        return progressing("waiting for the claim to be bound")
    return unknown(f"claim phase {phase}")


def custom_resource_definition(obj: Obj) -> HealthResult:
    if is_deleting(obj) or condition_is(obj, "Terminating", "True"):
        return progressing("CRD is being deleted")
    if condition_is(obj, "NamesAccepted", "False"):
        return degraded(condition_message(condition(obj, "NamesAccepted"), "names not accepted"))
    if condition_is(obj, "Established", "True") and condition_is(obj, "NamesAccepted", "True"):
        return healthy()
    return progressing("waiting for the CRD to be established")


def api_service(obj: Obj) -> HealthResult:
    if condition_is(obj, "Available", "True"):
        return healthy()
    return progressing(
        condition_message(condition(obj, "Available"), "waiting for the API to be available")
    )


def horizontal_pod_autoscaler(obj: Obj) -> HealthResult:
    if path(obj, "status") is None:
        return progressing("waiting for the autoscaler to observe its target")
    if condition_is(obj, "AbleToScale", "False"):
        return degraded(condition_message(condition(obj, "AbleToScale"), "unable to scale"))
    active = condition(obj, "ScalingActive")
    if active is not None and active.get("status") == "False":
        if active.get("reason") == "ScalingDisabled":
            return suspended(condition_message(active, "scaling is disabled"))
        return degraded(condition_message(active, "scaling is not active"))
    return healthy()


def namespace(obj: Obj) -> HealthResult:
    phase = text(obj, "status", "phase")
    if phase == "Terminating" or is_deleting(obj):
        return progressing("namespace is terminating")
    return healthy()
