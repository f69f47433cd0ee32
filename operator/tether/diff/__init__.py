"""Three-way merge, normalization and human diff: the pure reconciliation core.

Entry points: :func:`compare` (one object's verdict), :class:`VerdictCache` (memoized
verdicts), :class:`PatchMeta` (strategic-merge metadata from OpenAPI v3), the patch
engines (:func:`three_way_strategic_patch`, :func:`apply_strategic_patch`,
:func:`three_way_json_merge_patch`, :func:`apply_merge_patch`) and the last-applied
helpers. Everything here is data in, data out; the kube layer does the I/O.
"""

from tether.diff.compare import (
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    DiffResult,
    VerdictCache,
    compare,
    desired_hash,
    group_version_kind,
)
from tether.diff.errors import (
    ConflictError,
    DiffError,
    FieldsV1Error,
    IgnoreRuleError,
    LastAppliedError,
    MergeKeyMissingError,
    PatchError,
    PatchMetaError,
    PreconditionFailedError,
)
from tether.diff.jsonmerge import apply_merge_patch, create_merge_patch, three_way_json_merge_patch
from tether.diff.lastapplied import (
    LAST_APPLIED,
    last_applied_annotation,
    last_applied_from,
    with_last_applied,
)
from tether.diff.normalize import IgnoreRule, normalize_secret
from tether.diff.patchmeta import FieldMeta, PatchMeta, SchemaNode, default_patch_meta
from tether.diff.quantity import parse_quantity, same_quantity
from tether.diff.render import render_diff
from tether.diff.smp import (
    apply_strategic_patch,
    three_way_strategic_patch,
    two_way_strategic_patch,
)

__all__ = [
    "LAST_APPLIED",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "ConflictError",
    "DiffError",
    "DiffResult",
    "FieldMeta",
    "FieldsV1Error",
    "IgnoreRule",
    "IgnoreRuleError",
    "LastAppliedError",
    "MergeKeyMissingError",
    "PatchError",
    "PatchMeta",
    "PatchMetaError",
    "PreconditionFailedError",
    "SchemaNode",
    "VerdictCache",
    "apply_merge_patch",
    "apply_strategic_patch",
    "compare",
    "create_merge_patch",
    "default_patch_meta",
    "desired_hash",
    "group_version_kind",
    "last_applied_annotation",
    "last_applied_from",
    "normalize_secret",
    "parse_quantity",
    "render_diff",
    "same_quantity",
    "three_way_json_merge_patch",
    "three_way_strategic_patch",
    "two_way_strategic_patch",
    "with_last_applied",
]
