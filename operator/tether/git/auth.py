"""Credentials for Git remotes, read from a Secret-like mapping.

Recognised keys: ``username``/``password`` (HTTP basic), ``bearerToken`` (HTTP
``Authorization: Bearer``), ``identity`` (an SSH private key) with optional
``passphrase``, and ``known_hosts`` (required for SSH: host keys are always
checked strictly). Values may be ``str`` or ``bytes``. ``signingKey`` belongs to
write-back (``tether.writeback.gitwrite``) and is skipped here. Other keys are not read,
but their names are kept (``unused_keys``, never the values) so that a refused
login, or a Secret with no key Tether reads at all, can say which keys were
expected and which were found instead (``user``/``pass`` for ``username``/``password``).

Key material reaches the disk only inside ``ssh_key_files``: a private temp
folder (0700) holding 0600 files that are removed when the block ends. A
passphrase-protected key is decrypted in memory first, so the ssh client never
prompts. ``GitAuth``'s repr hides every value.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.git.errors import AuthenticationError

_KNOWN_KEYS = frozenset(
    {"username", "password", "bearerToken", "identity", "passphrase", "known_hosts"}
)
# Keys of the same Secret that other parts read (write-back's commit signing key):
# neither credentials nor "unused".
_READ_ELSEWHERE = frozenset({"signingKey"})
EXPECTED_KEYS = (
    "username and password, bearerToken, or identity (an SSH key) with known_hosts "
    "and an optional passphrase"
)


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _as_text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, repr=False)
class GitAuth:
    """Credentials for one remote; build it with ``GitAuth.from_mapping``."""

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    identity: bytes | None = None
    passphrase: bytes | None = None
    known_hosts: bytes | None = None
    unused_keys: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, str | bytes] | None) -> GitAuth:
        """Read the recognised keys; other keys (e.g. ``identity.pub``) are only named.

        A non-empty mapping with none of the recognised keys is refused: it is a
        misnamed Secret, and going on anonymously would only end in a vaguer error.
        """
        if not data:
            return cls()
        values = {k: v for k, v in data.items() if k in _KNOWN_KEYS and v not in ("", b"")}
        unused = tuple(sorted(k for k in data if k not in _KNOWN_KEYS | _READ_ELSEWHERE))
        if not values and unused:
            raise AuthenticationError(
                f"the secret has no key Tether reads (found: {', '.join(unused)}); "
                f"expected {EXPECTED_KEYS}"
            )
        if "password" in values and "bearerToken" in values:
            raise AuthenticationError("the secret sets both password and bearerToken; keep one")
        return cls(
            unused_keys=unused,
            username=_as_text(values["username"]) if "username" in values else None,
            password=_as_text(values["password"]) if "password" in values else None,
            bearer_token=_as_text(values["bearerToken"]).strip()
            if "bearerToken" in values
            else None,
            identity=_as_bytes(values["identity"]) if "identity" in values else None,
            passphrase=_as_bytes(values["passphrase"]) if "passphrase" in values else None,
            known_hosts=_as_bytes(values["known_hosts"]) if "known_hosts" in values else None,
        )

    def fingerprint(self, key: bytes = b"", *extra: str | None) -> str:
        """A keyed digest (HMAC-SHA256) that tells credential sets apart without revealing them.

        ``extra`` adds credentials that live elsewhere (a URL's user and password),
        so two callers are the same identity only if everything they send is equal.
        """
        digest = hmac.new(key, digestmod=hashlib.sha256)
        texts = (self.username, self.password, self.bearer_token, *extra)
        raws = (self.identity, self.passphrase, self.known_hosts)
        for raw in (*(None if t is None else t.encode() for t in texts), *raws):
            # Length-prefixed, with "absent" distinct from "empty": no two sets collide.
            digest.update(b"-" if raw is None else b"+%d:" % len(raw) + raw)
        return digest.hexdigest()[:32]

    def unused_keys_hint(self) -> str:
        """What to say after a refused login when the Secret had keys Tether does not read."""
        if not self.unused_keys:
            return ""
        return (
            f"; the secret also has keys Tether does not read: {', '.join(self.unused_keys)} "
            f"(expected {EXPECTED_KEYS})"
        )

    def __repr__(self) -> str:
        present = [
            name
            for name in (
                "username",
                "password",
                "bearer_token",
                "identity",
                "passphrase",
                "known_hosts",
            )
            if getattr(self, name) is not None
        ]
        return f"GitAuth(<{', '.join(present) or 'anonymous'}>)"


@dataclass(frozen=True)
class SSHFiles:
    """Paths of the temporary identity and known_hosts files for one ssh run."""

    identity: Path | None
    known_hosts: Path


@contextmanager
def ssh_key_files(auth: GitAuth, *, url: str = "") -> Iterator[SSHFiles]:
    """Write the key and known_hosts to 0600 files in a private temp dir; remove them after."""
    identity = _unencrypted_identity(auth, url) if auth.identity is not None else None
    folder = Path(tempfile.mkdtemp(prefix="tether-ssh-"))
    try:
        os.chmod(folder, 0o700)
        identity_path = _write_private(folder / "identity", identity) if identity else None
        known_hosts = _write_private(folder / "known_hosts", auth.known_hosts or b"")
        yield SSHFiles(identity_path, known_hosts)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _write_private(path: Path, data: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data if data.endswith(b"\n") or not data else data + b"\n")
    return path


def _unencrypted_identity(auth: GitAuth, url: str) -> bytes:
    """Return the key as OpenSSH PEM without encryption, checking the passphrase."""
    from cryptography.hazmat.primitives import serialization

    assert auth.identity is not None
    key: Any
    raw = auth.identity.replace(b"\r\n", b"\n").strip() + b"\n"
    try:
        if b"OPENSSH PRIVATE KEY" in raw:
            key = serialization.load_ssh_private_key(raw, password=auth.passphrase)
        else:
            key = serialization.load_pem_private_key(raw, password=auth.passphrase)
    except TypeError as exc:
        hint = (
            "needs a passphrase"
            if auth.passphrase is None
            else "is not encrypted; drop the passphrase"
        )
        raise AuthenticationError(f"the SSH identity {hint}", url=url) from _scrub(exc)
    except ValueError as exc:
        raise AuthenticationError(
            "the SSH identity cannot be loaded: wrong passphrase or not a private key", url=url
        ) from _scrub(exc)
    except Exception as exc:  # UnsupportedAlgorithm, incl. bcrypt missing for encrypted keys
        raise AuthenticationError(
            f"the SSH identity cannot be used here: {_scrub(exc)}", url=url
        ) from _scrub(exc)
    encoded: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return encoded


def _scrub(exc: Exception) -> Exception:
    """A stand-in cause: the library's message may echo key bytes, so keep only short ones."""
    text = str(exc)
    safe = len(text) < 80 and "\n" not in text
    return RuntimeError(f"{type(exc).__name__}: {text}" if safe else type(exc).__name__)
