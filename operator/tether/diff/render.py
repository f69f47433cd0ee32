"""Human-readable diff: a unified YAML diff of live versus predicted, per object.

Both sides drop metadata noise (managedFields, resourceVersion, uid, generation,
creationTimestamp, the last-applied annotation) and status. Secret ``data`` and
``stringData`` values are always masked: ``***`` when unchanged, ``*** (changed)`` on
the predicted side when the value differs. The YAML emitter is tiny and deterministic
(sorted keys, JSON-quoted scalars where YAML would misread them). No I/O.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Any

from tether.diff.jsonvalue import JSON, JSONObject
from tether.diff.lastapplied import LAST_APPLIED

MASK = "***"
CHANGED_MASK = "*** (changed)"
_NOISE = ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink")
_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*$")
_YAML_WORDS = frozenset(
    {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "<<", "="}
)


def render_diff(live: Mapping[str, Any] | None, predicted: Mapping[str, Any] | None) -> str:
    """Unified diff of the cleaned, masked YAML of ``live`` and ``predicted``."""
    before, after = clean(live), clean(predicted)
    if _is_secret(live) or _is_secret(predicted):
        before, after = mask_secret_pair(before, after)
    ident = _ident(predicted or live or {})
    old = to_yaml(before).splitlines(keepends=True) if before else []
    new = to_yaml(after).splitlines(keepends=True) if after else []
    return "".join(difflib.unified_diff(old, new, f"live/{ident}", f"desired/{ident}"))


def clean(obj: Mapping[str, Any] | None) -> JSONObject | None:
    """A copy of ``obj`` without status and server metadata noise."""
    if obj is None:
        return None
    out = {k: v for k, v in obj.items() if k != "status"}
    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        metadata = {k: v for k, v in metadata.items() if k not in _NOISE}
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            annotations = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
            if annotations:
                metadata["annotations"] = annotations
            else:
                del metadata["annotations"]
        out["metadata"] = metadata
    return out


def mask_secret_pair(
    before: JSONObject | None, after: JSONObject | None
) -> tuple[JSONObject | None, JSONObject | None]:
    """Mask every Secret value; mark values of ``after`` that differ from ``before``."""
    old = _secret_values(before)
    new = _secret_values(after)
    masked_before = _masked(before, {k: MASK for k in old})
    masked_after = _masked(
        after, {k: MASK if k in old and old[k] == v else CHANGED_MASK for k, v in new.items()}
    )
    return masked_before, masked_after


def _secret_values(obj: JSONObject | None) -> dict[str, JSON]:
    if obj is None:
        return {}
    values: dict[str, JSON] = {}
    for field in ("data", "stringData"):
        section = obj.get(field)
        if isinstance(section, dict):
            values.update({f"{field}/{k}": v for k, v in section.items()})
    return values


def _masked(obj: JSONObject | None, masks: Mapping[str, str]) -> JSONObject | None:
    if obj is None:
        return None
    out = dict(obj)
    for field in ("data", "stringData"):
        section = out.get(field)
        if isinstance(section, dict):
            out[field] = {k: masks.get(f"{field}/{k}", MASK) for k in section}
        elif section is not None:
            out[field] = MASK
    return out


def _is_secret(obj: Mapping[str, Any] | None) -> bool:
    return bool(obj) and obj is not None and obj.get("kind") == "Secret"


def _ident(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    parts = [
        str(obj.get("kind", "")),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name", "")),
    ]
    return "/".join(p for p in parts if p)


def to_yaml(value: JSON) -> str:
    """Block-style YAML with sorted keys."""
    lines: list[str] = []
    _emit(value, 0, lines)
    return "\n".join(lines) + "\n"


def _emit(value: JSON, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            lines.append(pad + "{}")
        for key in sorted(value):
            _emit_entry(pad + _scalar(str(key)) + ":", value[key], indent, lines)
    elif isinstance(value, list):
        if not value:
            lines.append(pad + "[]")
        for item in value:
            _emit_entry(pad + "-", item, indent, lines)
    else:
        lines.extend(pad + line for line in _scalar_lines(value, indent))


def _emit_entry(head: str, value: JSON, indent: int, lines: list[str]) -> None:
    if isinstance(value, dict | list) and value:
        lines.append(head)
        _emit(value, indent + 2, lines)
        return
    if isinstance(value, dict | list):
        lines.append(f"{head} {'{}' if isinstance(value, dict) else '[]'}")
        return
    first, *rest = _scalar_lines(value, indent + 2)
    lines.append(f"{head} {first}")
    lines.extend(rest)


def _scalar_lines(value: JSON, indent: int) -> list[str]:
    if isinstance(value, str) and "\n" in value.rstrip("\n"):
        body = value.split("\n")
        if all(line.isprintable() and not line.startswith(" ") for line in body if line):
            chomp = "" if value.endswith("\n") else "-"
            body = body[:-1] if value.endswith("\n") else body
            return ["|" + chomp] + [" " * indent + line if line else "" for line in body]
    return [_scalar(value)]


def _scalar(value: JSON) -> str:
    if isinstance(value, str):
        if _PLAIN.match(value) and value.lower() not in _YAML_WORDS and not _numeric(value):
            return value
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)


def _numeric(text: str) -> bool:
    try:
        float(text.replace("_", ""))
    except ValueError:
        return text.startswith(("0x", "0o", "0b")) or bool(re.match(r"^[0-9:]+$", text))
    return True
