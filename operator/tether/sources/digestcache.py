"""A content-addressed store of downloaded charts and blobs, shared by every app.

``DigestCache`` keeps each download as ``<root>/sha256/<hex>``: written once
to a private temporary file and renamed into place, so concurrent fetches of
the same digest (two apps, two threads, or two processes) never see a partial
file. ``put`` refuses bytes that do not hash to the digest they were fetched
for (``DigestMismatchError``); ``get`` re-hashes what it reads, so a corrupted
file is dropped and fetched again rather than rendered. Nothing is evicted
here: entries are small and named by content.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

from tether.sources.errors import DigestMismatchError

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``, the OCI digest form."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(data: bytes, expected: str, *, what: str, url: str = "") -> None:
    """Raise ``DigestMismatchError`` unless ``data`` hashes to ``expected``."""
    actual = sha256_digest(data)
    if actual != normal_digest(expected):
        raise DigestMismatchError(
            f"{what} has digest {actual[:19]}..., expected {normal_digest(expected)[:19]}...",
            url=url,
        )


def normal_digest(digest: str) -> str:
    """``sha256:<hex>`` from either that form or a bare hex digest (Helm's index)."""
    text = digest.strip().lower()
    return text if text.startswith("sha256:") else f"sha256:{text}"


def valid_digest(digest: str) -> bool:
    return bool(_DIGEST.match(normal_digest(digest)))


class DigestCache:
    """Files by digest under ``root``; see the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def _path(self, digest: str) -> Path:
        normal = normal_digest(digest)
        if not _DIGEST.match(normal):
            raise DigestMismatchError(f"{digest!r} is not a sha256 digest")
        return self.root / "sha256" / normal.split(":", 1)[1]

    def get(self, digest: str) -> bytes | None:
        """The bytes stored for ``digest``, or None (a corrupt entry is removed)."""
        path = self._path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        if sha256_digest(data) != normal_digest(digest):
            path.unlink(missing_ok=True)
            self.misses += 1
            return None
        self.hits += 1
        return data

    def put(self, digest: str, data: bytes, *, what: str, url: str = "") -> None:
        """Store ``data`` under ``digest`` after checking that it hashes to it."""
        check_digest(data, digest, what=what, url=url)
        path = self._path(digest)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        temp.write_bytes(data)
        os.replace(temp, path)
