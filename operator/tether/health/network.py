"""Health of Service and Ingress: both wait for a load balancer address where one is due."""

from __future__ import annotations

from collections.abc import Mapping

from .fields import Obj, sequence, text
from .status import HealthResult, healthy, progressing


def _has_address(obj: Obj) -> bool:
    return any(
        isinstance(entry, Mapping) and (entry.get("ip") or entry.get("hostname"))
        for entry in sequence(obj, "status", "loadBalancer", "ingress")
    )


def service(obj: Obj) -> HealthResult:
    if text(obj, "spec", "type") != "LoadBalancer":
        return healthy()
    if _has_address(obj):
        return healthy()
    return progressing("waiting for the load balancer to get an address")


def ingress(obj: Obj) -> HealthResult:
    if _has_address(obj):
        return healthy()
    return progressing("waiting for the ingress to get an address")
