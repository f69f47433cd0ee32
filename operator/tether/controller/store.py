"""The latest body of every watched Application, Repository and referenced Secret.

kopf delivers watch events to ``handlers``; they put the body here and wake the
queue. Workers read the newest body from here when they run, so a burst of
events costs one reconcile on the newest state and no extra GET.

Bodies are kept lean, as a bounded cost per object (``specs/design.md``,
"Memory per app"): ``metadata.managedFields`` and kubectl's last-applied
annotation are dropped (no controller reads them; they are half of an
Application's size as dicts), and ``status`` is kept packed
(``tether.packed``): it is read once per reconcile, while the rest (the
"head": metadata and spec) is read on every watch event and every scan, so it
stays as dicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tether.controller.triggers import Key
from tether.diff.lastapplied import LAST_APPLIED
from tether.packed import Packed, pack, unpack


def key_of(body: dict[str, Any]) -> Key:
    meta = body.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def head_of(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without status, managedFields and the last-applied annotation (shallow)."""
    head = {k: v for k, v in body.items() if k != "status"}
    meta = body.get("metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k != "managedFields"}
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        head["metadata"] = meta
    return head


class ObjectStore:
    """Bodies by (namespace, name): the head as dicts, the status packed.

    ``get`` gives the whole body (the head's dicts are shared: read-only; the
    status is a fresh copy). ``head``, ``items`` and ``in_namespace`` give heads
    only, without decoding any status: scans and watch events never read it.
    """

    def __init__(self) -> None:
        self._heads: dict[Key, dict[str, Any]] = {}
        self._status: dict[Key, Packed] = {}

    def put(self, body: dict[str, Any]) -> Key:
        key = key_of(body)
        self._heads[key] = head_of(body)
        status = body.get("status")
        if status is None:
            self._status.pop(key, None)
        else:
            self._status[key] = pack(status)
        return key

    def remove(self, key: Key) -> None:
        self._heads.pop(key, None)
        self._status.pop(key, None)

    def get(self, key: Key) -> dict[str, Any] | None:
        head = self._heads.get(key)
        if head is None:
            return None
        packed = self._status.get(key)
        return dict(head) if packed is None else {**head, "status": unpack(packed)}

    def head(self, key: Key) -> dict[str, Any] | None:
        """The body without its status (cheap: nothing is decoded)."""
        return self._heads.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._heads

    def __len__(self) -> int:
        return len(self._heads)

    def items(self) -> Iterator[tuple[Key, dict[str, Any]]]:
        """(key, head) of every object, from a snapshot (safe to put/remove meanwhile)."""
        return iter(list(self._heads.items()))

    def in_namespace(self, namespace: str) -> Iterator[tuple[Key, dict[str, Any]]]:
        return ((k, b) for k, b in self.items() if k[0] == namespace)
