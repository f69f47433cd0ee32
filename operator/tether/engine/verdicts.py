"""The engine's one verdict store: a bounded LRU of what it has judged, per app.

Two kinds of entries share the store and its single eviction rule (least
recently used goes first once ``max_entries`` is reached):

* local verdicts (``DiffResult``) of ``tether.kube.compare.Comparer``, keyed by
  desired hash, live uid and resourceVersion, mode and ignore rules; an in-sync
  one is kept without the live object (``DiffResult.kept``): a key and a
  shared value (the key and its hash: about 0.3 KiB per object);
* server confirmations (``Confirmation``) of a local patch, keyed by object,
  live resourceVersion and desired hash: the server said it is noise, or
  confirmed it as drift. A failed dry-run is not remembered.

Every entry belongs to an app, so ``forget(app)`` drops them all when the app
goes away. Stops at remembering: judging is the differ's and the comparer's job.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from tether.diff import DiffResult
from tether.identity import AppRef, ResourceKey


class Confirmation(enum.Enum):
    """What a server-side dry-run said about a non-empty local patch."""

    NOISE = "noise"  # the patch changes nothing: in sync
    DRIFT = "drift"  # the patch changes something: out of sync
    FAILED = "failed"  # the dry-run itself failed: out of sync, with the server's reason


class VerdictStore:
    """One LRU of local verdicts and server confirmations, entries tagged by app."""

    def __init__(self, max_entries: int = 200_000) -> None:
        # Keys are ((namespace, name), tag, key): plain tuples, hashed in C.
        self._entries: OrderedDict[tuple[tuple[str, str], str, Hashable], Any] = OrderedDict()
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, app: AppRef | tuple[str, str], tag: str, key: Hashable) -> Any:
        """The entry for ``key`` of ``app`` (None when absent); marks it recently used."""
        full = (_owner(app), tag, key)
        value = self._entries.get(full)
        if value is not None:
            self._entries.move_to_end(full)
        return value

    def put(self, app: AppRef | tuple[str, str], tag: str, key: Hashable, value: Any) -> None:
        full = (_owner(app), tag, key)
        self._entries[full] = value
        self._entries.move_to_end(full)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, app: AppRef) -> None:
        """Drop every entry of ``app``."""
        owner = _owner(app)
        for full in [k for k in self._entries if k[0] == owner]:
            del self._entries[full]

    # -- views for one app ---------------------------------------------------------------

    def local(self, app: AppRef) -> LocalVerdicts:
        return LocalVerdicts(self, app)

    def confirmations(self, app: AppRef) -> Confirmations:
        return Confirmations(self, app)


class LocalVerdicts:
    """``tether.kube.compare.VerdictMemo`` over the store, for one app."""

    def __init__(self, store: VerdictStore, app: AppRef) -> None:
        self._store = store
        self._app = _owner(app)

    def get(self, key: Hashable) -> DiffResult | None:
        # Inlined VerdictStore.get: this runs once per object on every diff.
        entries = self._store._entries
        full = (self._app, "local", key)
        value = entries.get(full)
        if value is None:
            return None
        entries.move_to_end(full)
        return value if isinstance(value, DiffResult) else None

    def put(self, key: Hashable, value: DiffResult) -> None:
        # Kept without the live object an in-sync verdict was judged on: the watch
        # cache holds that (packed), and a verdict is kept for as long as the app.
        self._store.put(self._app, "local", key, value.kept())


class Confirmations:
    """Server confirmations for one app; also ``tether.kube.apply.VerdictStore``."""

    def __init__(self, store: VerdictStore, app: AppRef) -> None:
        self._store = store
        self._app = _owner(app)

    def get(self, key: ResourceKey, resource_version: str, digest: str) -> Confirmation | None:
        value = self._store.get(self._app, "confirmed", (key, resource_version, digest))
        return value if isinstance(value, Confirmation) else None

    def put(
        self, key: ResourceKey, resource_version: str, digest: str, value: Confirmation
    ) -> None:
        if value is not Confirmation.FAILED:
            self._store.put(self._app, "confirmed", (key, resource_version, digest), value)

    def known_in_sync(self, key: ResourceKey, resource_version: str, desired_hash: str) -> bool:
        return self.get(key, resource_version, desired_hash) is Confirmation.NOISE

    def record_in_sync(self, key: ResourceKey, resource_version: str, desired_hash: str) -> None:
        self.put(key, resource_version, desired_hash, Confirmation.NOISE)


def _owner(app: AppRef | tuple[str, str]) -> tuple[str, str]:
    """The app as a plain (namespace, name) tuple (cheap to hash on every lookup)."""
    return app if isinstance(app, tuple) else (app.namespace, app.name)
