"""Generic health for every kind without a built-in check, following kstatus.

In order: an object being deleted is Progressing; an object whose controller has not
observed its latest generation is Progressing; ``Stalled=True`` is Degraded;
``Reconciling=True`` is Progressing; ``Ready`` decides when present (True is Healthy,
anything else Progressing, as kstatus reports InProgress). An object without a status,
or with none of these conditions, is Healthy: kstatus calls such resources Current.
"""

from __future__ import annotations

from .fields import (
    Obj,
    condition,
    condition_is,
    condition_message,
    generation_observed,
    is_deleting,
    path,
)
from .status import HealthResult, degraded, healthy, progressing


def generic(obj: Obj) -> HealthResult:
    if is_deleting(obj):
        return progressing("object is being deleted")
    if path(obj, "status") is None:
        return healthy()
    if not generation_observed(obj):
        return progressing("waiting for the controller to observe the latest generation")
    if condition_is(obj, "Stalled", "True"):
        return degraded(condition_message(condition(obj, "Stalled"), "stalled"))
    if condition_is(obj, "Reconciling", "True"):
        return progressing(condition_message(condition(obj, "Reconciling"), "reconciling"))
    ready = condition(obj, "Ready")
    if ready is not None and ready.get("status") != "True":
        return progressing(condition_message(ready, "not ready"))
    return healthy()
