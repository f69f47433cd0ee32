"""The engine's view of ``tether.diff``: one object's local verdict, memoized.

A ``Comparer`` binds the cluster's patch metadata (from OpenAPI v3), an app's
ignoreDifferences rules and the process-wide verdict memos, and answers "what
patch would bring live to desired" the way ``kubectl apply`` decides it:

* client-side apply: a three-way merge against the last-applied annotation
  (strategic merge for kinds whose PATCH accepts it, JSON merge patch
  otherwise);
* server-side apply: a two-way comparison without the annotation (only fields
  desired sets are looked at).

Both are memoized by (mode, desired hash, uid, resourceVersion, ignore rules)
in a ``VerdictMemo`` (the engine passes its one bounded ``VerdictStore``).

Stops at the verdict: sending patches and confirming them with a dry-run is
``tether.kube.apply``'s job.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, Protocol

from tether.diff import (
    DiffResult,
    IgnoreRule,
    PatchMeta,
    compare,
    desired_hash,
    group_version_kind,
    last_applied_from,
)


class VerdictMemo(Protocol):
    """Where a ``Comparer`` remembers verdicts (the engine's ``VerdictStore``)."""

    def get(self, key: Hashable) -> DiffResult | None: ...

    def put(self, key: Hashable, value: DiffResult) -> None: ...


class _DictMemo:
    """An unbounded memo for short-lived comparers (one CLI call, tests)."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, DiffResult] = {}

    def get(self, key: Hashable) -> DiffResult | None:
        return self._entries.get(key)

    def put(self, key: Hashable, value: DiffResult) -> None:
        self._entries[key] = value


class Comparer:
    """Local three-way (or server-side two-way) verdicts for one app's objects."""

    def __init__(
        self,
        meta: PatchMeta,
        memo: VerdictMemo | None = None,
        *,
        ignore: tuple[IgnoreRule, ...] = (),
    ) -> None:
        self.meta = meta
        self.memo: VerdictMemo = memo if memo is not None else _DictMemo()
        self.ignore = ignore

    def strategic(self, obj: Mapping[str, Any]) -> bool:
        """Whether the kind's PATCH accepts strategic merge (built-in kinds only)."""
        return self.meta.supports_strategic(*group_version_kind(obj))

    def verdict(
        self,
        desired: Mapping[str, Any],
        live: Mapping[str, Any] | None,
        *,
        server_side: bool = False,
        digest: str | None = None,
    ) -> DiffResult:
        """The local verdict for ``desired`` against ``live`` (None: to be created)."""
        strategic = self.strategic(desired)
        meta = (live or {}).get("metadata") or {}
        key = (
            server_side,
            digest or desired_hash(desired),
            meta.get("uid"),
            meta.get("resourceVersion"),
            strategic,
            self.ignore,
            self.meta,
        )
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        if server_side:
            result = compare(
                desired,
                live,
                None,
                meta=self.meta,
                strategic=strategic,
                ignore=self.ignore,
                annotate=False,
            )
        else:
            result = compare(
                desired,
                live,
                last_applied_from(live),
                meta=self.meta,
                strategic=strategic,
                ignore=self.ignore,
            )
        self.memo.put(key, result)
        return result

    def __call__(
        self,
        desired: Mapping[str, Any],
        live: Mapping[str, Any] | None,
        last_applied: Mapping[str, Any] | None = None,
        res: Any = None,
    ) -> DiffResult:
        """Unmemoized three-way compare with an explicit last-applied (older call form)."""
        return compare(
            desired,
            live,
            last_applied,
            meta=self.meta,
            strategic=self.strategic(desired),
            ignore=self.ignore,
        )
