"""Value types shared by the API models: the base model, durations, timestamps.

``ApiModel`` fixes how every model maps to Kubernetes JSON: camelCase aliases,
construction by Python name or alias, immutable instances. ``Duration`` keeps a
Go-style duration string (``1m``, ``1h30m``) exactly as the user wrote it and checks
it; ``parse_duration`` turns one into seconds. ``Interval`` is a Duration with a
10 s floor, checked by the model and by the CRD's CEL rule alike. ``Timestamp`` is a UTC datetime that
serialises as RFC 3339 with whole seconds, as ``metav1.Time`` does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"
_DURATION_FULL = re.compile(DURATION_PATTERN)
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class ApiModel(BaseModel):
    """Base for spec models: camelCase JSON, immutable, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
    )

    def to_dict(self) -> dict[str, Any]:
        """The Kubernetes JSON form: camelCase keys, unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StatusModel(ApiModel):
    """Base for status models: like ApiModel, but unknown fields are ignored.

    Status is written by Tether itself; an older operator reading a status that a
    newer one wrote must not fail on a field it does not know.
    """

    model_config = ConfigDict(extra="ignore")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string such as ``90s``, ``1m30s`` or ``1.5h``.

    Raises ValueError with a message saying what a valid duration looks like.
    """
    if not isinstance(text, str) or not _DURATION_FULL.match(text):
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit (h, m, s, ms), "
            "for example 30s, 5m or 1h30m"
        )
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


def _check_duration(text: str) -> str:
    if parse_duration(text) <= 0:
        raise ValueError(f"{text!r} must be longer than zero, for example 30s or 5m")
    return text


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]
"""A positive Go duration string, kept as written (parse it with parse_duration)."""

MIN_INTERVAL = "10s"
MIN_INTERVAL_SECONDS = 10.0
_INTERVAL_MESSAGE = (
    f"must be at least {MIN_INTERVAL}: a shorter polling interval only loads the Git server "
    "and the API server; use webhooks or the tether.dev/refresh annotation for speed"
)


def _check_interval(text: str) -> str:
    if parse_duration(text) < MIN_INTERVAL_SECONDS:
        raise ValueError(f"{text!r} {_INTERVAL_MESSAGE}")
    return text


Interval = Annotated[
    str,
    AfterValidator(_check_interval),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "maxLength": 64,
            "x-kubernetes-validations": [
                {
                    "rule": f"duration(self) >= duration('{MIN_INTERVAL}')",
                    "message": f"interval {_INTERVAL_MESSAGE}",
                }
            ],
        }
    ),
]
"""A polling interval: a Go duration of at least 10 s (model and CRD CEL rule agree)."""


def _format_time(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[
    datetime,
    PlainSerializer(_format_time, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A point in time, written as RFC 3339 UTC with whole seconds (``2024-05-01T12:00:00Z``)."""


def utc_now() -> datetime:
    """The current time in UTC, truncated to whole seconds like ``metav1.Time``."""
    return datetime.now(UTC).replace(microsecond=0)
