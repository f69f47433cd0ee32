"""Helm edits: a captured value goes to an explicitly mapped key of the first value file.

A chart's templates cannot be edited back, so a Helm app writes back only
fields with a ``helmValue`` mapping (``image.tag``, ``replicaCount``...). The
key is a dotted path (``\\.`` for a dot inside a key; no list indexes) into the
app's first value file, edited in place by yamledit (a missing key is
inserted). When the captured field is a container image and the mapped key
ends in ``tag``, ``digest`` or ``repository``, that part of the live image is
written (``image.tag: 1.3`` for ``repo/web:1.3``); otherwise the whole value.
Pure.
"""

from __future__ import annotations

import re
from typing import Any, Final

from tether.writeback.errors import EditRefused, InvalidPointer
from tether.writeback.kustedit import ImageRef, is_image_pointer
from tether.writeback.pointer import FieldPointer
from tether.writeback.yamledit import set_field

_SEGMENT_SPLIT: Final = re.compile(r"(?<!\\)\.")


def value_path(helm_value: str) -> tuple[str, ...]:
    """``image.tag`` -> ("image", "tag"); InvalidPointer when it is not a dotted key path."""
    parts = tuple(part.replace("\\.", ".") for part in _SEGMENT_SPLIT.split(helm_value))
    if not helm_value or any(not part for part in parts):
        raise InvalidPointer(
            f"Helm value {helm_value!r}: expected a dotted key path like image.tag"
        )
    if any(ch in helm_value for ch in "[]"):
        raise InvalidPointer(f"Helm value {helm_value!r}: list indexes are not supported")
    return parts


def mapped_value(pointer: FieldPointer, helm_value: str, live: Any, what: str = "") -> Any:
    """What goes into the value file for the live value of ``pointer``."""
    last = value_path(helm_value)[-1]
    if not (is_image_pointer(pointer) and isinstance(live, str)):
        return live
    image = ImageRef.parse(live)
    part: str | None = live
    if last == "tag" or last.endswith("Tag"):
        part = image.tag
    elif last == "digest":
        part = image.digest
    elif last in ("repository", "repo"):
        part = image.name
    if part is None:
        raise EditRefused(
            f"{what}: the live image has no {last} to write to Helm value {helm_value}"
        )
    return part


def edit_value(
    data: bytes, *, file: str, helm_value: str, pointer: FieldPointer, live: Any, what: str
) -> bytes:
    """The value file with the mapped key set (created when missing)."""
    steps = value_path(helm_value)
    value = mapped_value(pointer, helm_value, live, what)
    return set_field(data, file=file, doc=0, steps=steps, value=value, create=True, what=what)
