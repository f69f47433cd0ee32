"""Health statuses, the result of one assessment, and how statuses aggregate.

Aggregation follows Argo CD's order so that apps moving over report the same health.
From best to worst:

    Healthy < Suspended < Progressing < Missing < Degraded < Unknown

The worst status of all resources is the app's health. Unknown ranks worst because an
object whose health cannot be judged must never let a sync wave pass its health gate;
Suspended ranks just above Healthy because a paused object is intentional, not broken.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class HealthStatus(enum.StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    MISSING = "Missing"
    UNKNOWN = "Unknown"

    @property
    def severity(self) -> int:
        """Rank in the aggregation order; higher is worse."""
        return _ORDER.index(self)


_ORDER = (
    HealthStatus.HEALTHY,
    HealthStatus.SUSPENDED,
    HealthStatus.PROGRESSING,
    HealthStatus.MISSING,
    HealthStatus.DEGRADED,
    HealthStatus.UNKNOWN,
)

AGGREGATION_ORDER: tuple[HealthStatus, ...] = _ORDER
"""Statuses from best to worst; aggregation picks the worst."""


@dataclass(frozen=True)
class HealthResult:
    """The health of one object, with a short human message (empty when obvious)."""

    status: HealthStatus
    message: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"status": self.status.value, "message": self.message}


def healthy(message: str = "") -> HealthResult:
    return HealthResult(HealthStatus.HEALTHY, message)


def progressing(message: str) -> HealthResult:
    return HealthResult(HealthStatus.PROGRESSING, message)


def degraded(message: str) -> HealthResult:
    return HealthResult(HealthStatus.DEGRADED, message)


def suspended(message: str) -> HealthResult:
    return HealthResult(HealthStatus.SUSPENDED, message)


def unknown(message: str) -> HealthResult:
    return HealthResult(HealthStatus.UNKNOWN, message)


def is_worse(candidate: HealthStatus, than: HealthStatus) -> bool:
    return candidate.severity > than.severity


def worst(statuses: Iterable[HealthStatus]) -> HealthStatus:
    """The worst status; Healthy when there are none (an empty app has nothing broken)."""
    return max(statuses, key=lambda s: s.severity, default=HealthStatus.HEALTHY)


def aggregate(results: Iterable[HealthResult]) -> HealthResult:
    """The worst result; ties keep the first one seen, so its message explains the status."""
    current: HealthResult | None = None
    for result in results:
        if current is None or is_worse(result.status, current.status):
            current = result
    return current if current is not None else healthy()
