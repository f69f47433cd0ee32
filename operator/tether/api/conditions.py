"""Status conditions, kstatus style, and pure helpers to update them.

A condition list is a value: every helper takes the current list and returns a new
one. ``lastTransitionTime`` changes only when a condition's status changes, so a
reconcile that finds nothing new produces an equal list and no status write.

kstatus rules followed by the ``mark_*`` helpers: ``Ready`` is the normal-true
condition that ``kubectl wait --for=condition=Ready`` watches; ``Reconciling`` and
``Stalled`` are abnormal-true conditions, present only while true.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from tether.api.types import StatusModel, Timestamp, utc_now

ConditionStatus = Literal["True", "False", "Unknown"]

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"

MAX_MESSAGE = 32768
REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Reason(enum.StrEnum):
    """Named condition reasons used by the controllers (CamelCase, as Kubernetes wants)."""

    SUCCEEDED = "Succeeded"
    PROGRESSING = "Progressing"
    FETCHING = "Fetching"
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    HOST_KEY_MISMATCH = "HostKeyMismatch"
    REPOSITORY_NOT_FOUND = "RepositoryNotFound"
    REF_NOT_FOUND = "RefNotFound"
    FETCH_FAILED = "FetchFailed"
    SECRET_NOT_FOUND = "SecretNotFound"
    INVALID_SPEC = "InvalidSpec"
    SOURCE_UNAVAILABLE = "SourceUnavailable"
    RENDER_FAILED = "RenderFailed"
    SYNC_FAILED = "SyncFailed"
    SYNCING = "Syncing"
    OUT_OF_SYNC = "OutOfSync"
    SHARED_RESOURCE = "SharedResource"
    EMPTY_RENDER = "EmptyRender"
    SUSPENDED = "Suspended"
    DELETION_BLOCKED = "DeletionBlocked"
    UNKNOWN_KIND = "UnknownKind"
    INVALID_OBJECTS = "InvalidObjects"
    DUPLICATE_OBJECT = "DuplicateObject"
    COMPARE_FAILED = "CompareFailed"
    APPLY_FAILED = "ApplyFailed"
    DEGRADED = "Degraded"
    NOT_PERMITTED = "NotPermitted"
    PERMISSION_DENIED = "PermissionDenied"  # the API server refused a request (403)
    NAMESPACE_NOT_EMPTY = "NamespaceNotEmpty"  # a Namespace prune skipped: others' objects
    NOT_FOUND = "NotFound"
    DIGEST_MISMATCH = "DigestMismatch"
    INVALID_ARTIFACT = "InvalidArtifact"


class Condition(StatusModel):
    """One observation about the object, in the shape of metav1.Condition."""

    type: str = Field(description="The condition type: Ready, Reconciling or Stalled.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        pattern=REASON_PATTERN,
        max_length=1024,
        description="A CamelCase word naming why the condition has this status.",
    )
    message: str = Field(
        default="", max_length=MAX_MESSAGE, description="Human-readable details; what to fix."
    )
    last_transition_time: Timestamp = Field(
        description="When the status last changed (not the reason or message)."
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation this condition describes."
    )

    @field_validator("message", mode="before")
    @classmethod
    def _cap_message(cls, message: object) -> object:
        """Long messages (a whole render error) are cut, never refused."""
        if isinstance(message, str) and len(message) > MAX_MESSAGE:
            return message[: MAX_MESSAGE - 3] + "..."
        return message


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    """The condition of the given type, or None."""
    return next((c for c in conditions if c.type == type_), None)


def is_condition_true(conditions: Sequence[Condition], type_: str) -> bool:
    """Whether a condition of this type exists with status True."""
    found = find_condition(conditions, type_)
    return found is not None and found.status == "True"


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    *,
    observed_generation: int | None = None,
    now: datetime | None = None,
) -> list[Condition]:
    """A new list with the condition of ``type_`` set; others keep their order.

    The transition time is kept when the status is unchanged, so setting the same
    condition twice yields an equal list.
    """
    old = find_condition(conditions, type_)
    changed = old is None or old.status != status
    when = (now or utc_now()) if changed or old is None else old.last_transition_time
    new = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=when,
        observed_generation=observed_generation,
    )
    if old is None:
        return [*conditions, new]
    return [new if c.type == type_ else c for c in conditions]


def remove_condition(conditions: Sequence[Condition], type_: str) -> list[Condition]:
    """A new list without the condition of ``type_``."""
    return [c for c in conditions if c.type != type_]


def mark_reconciling(
    conditions: Sequence[Condition],
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: datetime | None = None,
) -> list[Condition]:
    """Work is under way: Reconciling=True, Ready=Unknown, Stalled removed."""
    out = set_condition(
        conditions, RECONCILING, "True", reason, message, observed_generation=generation, now=now
    )
    out = set_condition(
        out, READY, "Unknown", reason, message, observed_generation=generation, now=now
    )
    return remove_condition(out, STALLED)


def mark_ready(
    conditions: Sequence[Condition],
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: datetime | None = None,
) -> list[Condition]:
    """Done and good: Ready=True, Reconciling and Stalled removed."""
    out = set_condition(
        conditions, READY, "True", reason, message, observed_generation=generation, now=now
    )
    return remove_condition(remove_condition(out, RECONCILING), STALLED)


def mark_not_ready(
    conditions: Sequence[Condition],
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: datetime | None = None,
) -> list[Condition]:
    """A failure that retrying may fix: Ready=False, Reconciling and Stalled removed."""
    out = set_condition(
        conditions, READY, "False", reason, message, observed_generation=generation, now=now
    )
    return remove_condition(remove_condition(out, RECONCILING), STALLED)


def mark_stalled(
    conditions: Sequence[Condition],
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: datetime | None = None,
) -> list[Condition]:
    """Stuck until someone changes something: Stalled=True, Ready=False, no Reconciling."""
    out = set_condition(
        conditions, STALLED, "True", reason, message, observed_generation=generation, now=now
    )
    out = set_condition(
        out, READY, "False", reason, message, observed_generation=generation, now=now
    )
    return remove_condition(out, RECONCILING)
