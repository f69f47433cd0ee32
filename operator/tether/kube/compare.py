"""The engine's view of ``tether.diff``: one object's local verdict, memoized.

A ``Comparer`` binds the cluster's patch metadata (from OpenAPI v3), an app's
ignoreDifferences rules and the process-wide verdict memos, and answers "what
patch would bring live to desired" the way ``kubectl apply`` decides it:

* client-side apply: a three-way merge against the last-applied annotation
  (strategic merge for kinds whose PATCH accepts it, JSON merge patch
  otherwise), memoized by (desired hash, uid, resourceVersion) in a
  ``tether.diff.VerdictCache``;
* server-side apply: a two-way comparison without the annotation (only fields
  desired sets are looked at), memoized the same way in its own table.

Stops at the verdict: sending patches and confirming them with a dry-run is
``tether.kube.apply``'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether.diff import (
    DiffResult,
    IgnoreRule,
    PatchMeta,
    VerdictCache,
    compare,
    desired_hash,
    group_version_kind,
)

_SSA_MEMO_LIMIT = 20_000


class Comparer:
    """Local three-way (or server-side two-way) verdicts for one app's objects."""

    def __init__(
        self,
        meta: PatchMeta,
        memo: VerdictCache | None = None,
        *,
        ignore: tuple[IgnoreRule, ...] = (),
        ssa_memo: dict[tuple[Any, ...], DiffResult] | None = None,
    ) -> None:
        self.meta = meta
        self.memo = memo if memo is not None else VerdictCache()
        self.ignore = ignore
        self._ssa_memo = ssa_memo if ssa_memo is not None else {}

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
        if not server_side:
            return self.memo.compare(
                desired,
                live,
                meta=self.meta,
                strategic=strategic,
                ignore=self.ignore,
                digest=digest,
            )
        meta = (live or {}).get("metadata") or {}
        key: tuple[Any, ...] = (
            digest or desired_hash(desired),
            meta.get("uid"),
            meta.get("resourceVersion"),
            self.ignore,
            self.meta,
        )
        hit = self._ssa_memo.get(key)
        if hit is not None:
            return hit
        result = compare(
            desired,
            live,
            None,
            meta=self.meta,
            strategic=strategic,
            ignore=self.ignore,
            annotate=False,
        )
        if len(self._ssa_memo) >= _SSA_MEMO_LIMIT:
            self._ssa_memo.clear()
        self._ssa_memo[key] = result
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
