"""compare(): one object's verdict — patch, content type, in-sync flag, prediction.

Puts the pieces together the way ``kubectl apply`` does: the modified document is the
desired object carrying its own last-applied annotation; ignore rules pin ignored
fields; the three-way patch is strategic for kinds with patch metadata and a JSON
merge patch otherwise; normalization decides whether the patch changes anything. The
:class:`VerdictCache` memoizes verdicts by (desired hash, live uid and
resourceVersion), so a no-op reconcile does no tree walks. Pure; no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tether.diff.jsonmerge import apply_merge_patch, three_way_json_merge_patch
from tether.diff.jsonvalue import JSONObject
from tether.diff.lastapplied import last_applied_from, with_last_applied
from tether.diff.normalize import (
    IgnoreRule,
    apply_ignore_rules,
    effective_patch,
    normalize_secret,
)
from tether.diff.patchmeta import EMPTY_NODE, PatchMeta, default_patch_meta
from tether.diff.render import render_diff
from tether.diff.smp import apply_strategic_patch, three_way_strategic_patch

STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class DiffResult:
    """The verdict for one object.

    ``patch`` is what to send (``{}`` when in sync; the whole modified object when the
    object does not exist yet), ``content_type`` its media type, ``effective`` the
    normalized part of the patch that really changes something, ``predicted`` the live
    object with the patch applied locally. ``raw_patch`` is exactly what ``kubectl
    apply`` would send, even when in sync (e.g. only refreshing the last-applied
    annotation, or a quantity spelled differently); send it to stay byte-identical
    with kubectl when applying anyway. ``diff`` renders lazily, with Secret values
    masked.
    """

    patch: JSONObject
    content_type: str
    in_sync: bool
    predicted: JSONObject
    live: JSONObject | None = field(default=None, repr=False)
    effective: JSONObject = field(default_factory=dict)
    raw_patch: JSONObject = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """Whether the object exists live (otherwise it must be created)."""
        return self.live is not None

    @cached_property
    def diff(self) -> str:
        """Unified YAML diff of live versus predicted (empty when in sync)."""
        if self.in_sync:
            return ""
        return render_diff(self.live, self.predicted)

    def kept(self) -> DiffResult:
        """This verdict as a long-lived memo keeps it.

        An in-sync verdict is read for ``in_sync``, ``patch``, ``effective`` and
        ``content_type`` only, so it is kept without the live object and the
        prediction (both ``{}``; ``exists`` stays true); an empty one is one shared
        value per content type. An out-of-sync verdict is kept whole (its diff is
        rendered from them).
        """
        if not self.in_sync:
            return self
        if not self.patch and not self.effective and not self.raw_patch:
            shared = _KEPT_IN_SYNC.get(self.content_type)
            if shared is None:
                shared = _KEPT_IN_SYNC.setdefault(
                    self.content_type, DiffResult({}, self.content_type, True, {}, {})
                )
            return shared
        return DiffResult(
            self.patch, self.content_type, True, {}, {}, self.effective, self.raw_patch
        )


_KEPT_IN_SYNC: dict[str, DiffResult] = {}


def group_version_kind(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """(group, version, kind) of an object from its apiVersion and kind."""
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    return group, version, str(obj.get("kind", ""))


def compare(
    desired: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    last_applied: Mapping[str, Any] | None,
    *,
    meta: PatchMeta | None = None,
    strategic: bool,
    ignore: Sequence[IgnoreRule] = (),
    annotate: bool = True,
) -> DiffResult:
    """Three-way compare ``desired`` with ``live`` given the last-applied config.

    ``strategic`` asks for a strategic merge patch; kinds the patch metadata does not
    know fall back to a JSON merge patch. ``annotate`` adds the last-applied annotation
    to the patch as kubectl does. Raises :class:`~tether.diff.errors.DiffError`.
    """
    gvk = group_version_kind(desired)
    schema = (meta or default_patch_meta()).root(*gvk) if strategic else None
    content_type = STRATEGIC_MERGE_PATCH if schema is not None else MERGE_PATCH
    modified = with_last_applied(desired) if annotate else dict(desired)
    if live is None:
        return DiffResult(modified, content_type, False, modified, None, modified, modified)
    live = dict(live)
    original = dict(last_applied) if last_applied is not None else None
    rules = [rule for rule in ignore if rule.matches(desired)]
    if rules:
        modified, original = apply_ignore_rules(
            rules, modified, original, live, schema or EMPTY_NODE
        )
    if schema is not None:
        patch = three_way_strategic_patch(original, modified, live, schema)
    else:
        patch = three_way_json_merge_patch(original, modified, live)
    secret = gvk == ("", "v1", "Secret")
    effective = effective_patch(
        patch, live, schema or EMPTY_NODE, strategic=schema is not None, secret=secret
    )
    if not effective:
        return DiffResult({}, content_type, True, live, live, {}, patch)
    if schema is not None:
        predicted = apply_strategic_patch(live, patch, schema)
    else:
        predicted = apply_merge_patch(live, patch)
    if secret:
        predicted = normalize_secret(predicted)
    return DiffResult(patch, content_type, False, predicted, live, effective, patch)


def desired_hash(obj: Mapping[str, Any]) -> str:
    """Stable digest of an object's canonical JSON (sorted keys, compact)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class VerdictCache:
    """Memoized verdicts keyed by (desired hash, live uid, live resourceVersion, options).

    The last-applied configuration is read from the live object, so it is covered by
    the resourceVersion. Pass ``digest`` (from :func:`desired_hash`, computed once per
    render) to skip hashing on the hot path. Not thread-safe; one per reconcile loop.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: dict[tuple[Any, ...], DiffResult] = {}
        self._max = max_entries
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def compare(
        self,
        desired: Mapping[str, Any],
        live: Mapping[str, Any] | None,
        *,
        meta: PatchMeta | None = None,
        strategic: bool,
        ignore: Sequence[IgnoreRule] = (),
        digest: str | None = None,
    ) -> DiffResult:
        """:func:`compare` with ``last_applied`` read from ``live``, memoized."""
        metadata = (live or {}).get("metadata") or {}
        key = (
            digest or desired_hash(desired),
            metadata.get("uid"),
            metadata.get("resourceVersion"),
            strategic,
            tuple(ignore),
            meta,
        )
        hit = self._entries.get(key)
        if hit is not None:
            self.hits += 1
            return hit
        self.misses += 1
        result = compare(
            desired, live, last_applied_from(live), meta=meta, strategic=strategic, ignore=ignore
        )
        if len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = result
        return result

    def clear(self) -> None:
        """Forget every verdict."""
        self._entries.clear()
