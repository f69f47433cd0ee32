"""The latest body of every watched Application, Repository and referenced Secret.

kopf delivers watch events to ``handlers``; they put the body here and wake the
queue. Workers read the newest body from here when they run, so a burst of
events costs one reconcile on the newest state and no extra GET.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tether.controller.triggers import Key


def key_of(body: dict[str, Any]) -> Key:
    meta = body.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


class ObjectStore:
    """Bodies by (namespace, name); values are the dicts kopf gave us, not copied."""

    def __init__(self) -> None:
        self._bodies: dict[Key, dict[str, Any]] = {}

    def put(self, body: dict[str, Any]) -> Key:
        key = key_of(body)
        self._bodies[key] = body
        return key

    def remove(self, key: Key) -> None:
        self._bodies.pop(key, None)

    def get(self, key: Key) -> dict[str, Any] | None:
        return self._bodies.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._bodies

    def __len__(self) -> int:
        return len(self._bodies)

    def items(self) -> Iterator[tuple[Key, dict[str, Any]]]:
        return iter(list(self._bodies.items()))

    def in_namespace(self, namespace: str) -> Iterator[tuple[Key, dict[str, Any]]]:
        return ((k, b) for k, b in self.items() if k[0] == namespace)
