"""The claim on an Application: which shard may reconcile it and run its operations. Pure.

A shard writes its identity into the annotation ``tether.dev/shard`` before it
reconciles an app, with the Application's resourceVersion as a precondition, so
of two shards claiming at once one gets a 409. A claim passes only from a
holder that let go (it removes the annotation, testing first that it still
holds it) or whose Lease expired; a live holder keeps the app until it has
finished its step and handed off. The annotation is also how a user sees which
shard owns an app (``kubectl get app -o yaml``).
"""

from __future__ import annotations

from typing import Any

CLAIM_ANNOTATION = "tether.dev/shard"
OPERATION_CLAIM_ANNOTATION = "tether.dev/shard-operation"
"""``<shard> <startedAt>`` of the last operation a shard started or resumed."""


def holder_of(body: dict[str, Any]) -> str:
    """The shard named in the Application's claim ("" when unclaimed)."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(CLAIM_ANNOTATION) or "")


def may_claim(holder: str, me: str, live: frozenset[str]) -> bool:
    """Whether ``me`` may take an app claimed by ``holder`` given the live members."""
    return holder in ("", me) or holder not in live


def claim_patch(
    me: str, resource_version: str, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    """A merge patch naming ``me``, refused (409) unless the object is still at that version."""
    return {
        "metadata": {
            "resourceVersion": resource_version,
            "annotations": {CLAIM_ANNOTATION: me, **(extra or {})},
        }
    }


def release_patch(me: str) -> list[dict[str, Any]]:
    """A JSON patch removing the claim only if ``me`` still holds it (else 422)."""
    path = "/metadata/annotations/" + CLAIM_ANNOTATION.replace("~", "~0").replace("/", "~1")
    return [{"op": "test", "path": path, "value": me}, {"op": "remove", "path": path}]
