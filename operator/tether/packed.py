"""Compact storage of JSON values kept for a long time: compressed compact JSON.

A Kubernetes object decoded into Python dicts costs about seven times its JSON
size (every key, string and container is a separate object of 50 bytes or
more); the same object as zlib-compressed compact JSON costs about a quarter of
its JSON size. The operator keeps the newest body of every watched object for
as long as it runs, so the long-lived stores (``kube.cache``, the controller's
``ObjectStore`` and ``StatusWriter``) hold ``Packed`` values and decode one
when it is read. Measured on a cached ConfigMap of 1.2 KB of JSON: 2.6 KiB as
dicts, 0.4 KiB packed; ``unpack`` takes 4 to 8 us, ``pack`` 12 to 17 us
(``bench/README.md``, "Memory, round 2: per app").

Each ``unpack`` returns a fresh value, so a caller may change what it got
without touching what is stored. Only JSON values round-trip: tuples come back
as lists. Stops at the encoding: what to keep is each store's choice.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, NewType

Packed = NewType("Packed", bytes)

# Raw deflate, level 1, a 4 KiB window and the smallest hash tables but one: within
# 5% of zlib's default ratio on these documents (most are under 4 KiB), and about ten
# times faster per call, because the default state (~256 KiB, allocated and zeroed on
# every call) dwarfs a 1 KB document. Writes happen on every watch event.
_LEVEL, _WBITS, _MEMLEVEL = 1, -12, 2
_encode = json.JSONEncoder(separators=(",", ":")).encode
_decode = json.JSONDecoder().decode


def pack(value: Any) -> Packed:
    """``value`` (a JSON value) as compressed compact JSON."""
    deflate = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, _MEMLEVEL)
    return Packed(deflate.compress(_encode(value).encode()) + deflate.flush())


def unpack(packed: Packed) -> Any:
    """A fresh copy of the value ``pack`` was given (tuples come back as lists)."""
    return _decode(zlib.decompress(packed, _WBITS).decode())


def normalized(value: Any) -> Any:
    """``value`` as it comes back from a packed store: tuples as lists, copied."""
    return _decode(_encode(value))
