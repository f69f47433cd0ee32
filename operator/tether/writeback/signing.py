"""SSH signatures for commits (the SSHSIG format), made in-process with ``cryptography``.

``SSHSigner.load(key)`` reads an OpenSSH (or PEM) private key: Ed25519, ECDSA
(nistp256/384/521) or RSA. ``sign(data)`` returns the armored signature
(``-----BEGIN SSH SIGNATURE-----``) that ``ssh-keygen -Y sign -n git`` would
make, which is what git stores in a commit's ``gpgsig`` header with
``gpg.format=ssh``, so ``git verify-commit`` accepts it given an allowed-signers
file. The format is OpenSSH's PROTOCOL.sshsig: a blob of magic, version, public
key, namespace, reserved, hash algorithm (sha512) and the signature over
magic + namespace + reserved + hash algorithm + H(data).

No ssh-keygen is run. Errors are ``SigningKeyError`` (a ``ValueError``) whose
message never contains key material; the caller translates it.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

MAGIC = b"SSHSIG"
VERSION = 1
HASH_ALGORITHM = b"sha512"
NAMESPACE = "git"
_LINE = 70  # ssh-keygen's armor width
_CURVES: dict[str, tuple[bytes, hashes.HashAlgorithm]] = {
    "secp256r1": (b"ecdsa-sha2-nistp256", hashes.SHA256()),
    "secp384r1": (b"ecdsa-sha2-nistp384", hashes.SHA384()),
    "secp521r1": (b"ecdsa-sha2-nistp521", hashes.SHA512()),
}


class SigningKeyError(ValueError):
    """The signing key cannot be loaded or is of a kind SSH signatures do not support."""


@dataclass(frozen=True, repr=False)
class SSHSigner:
    """A loaded private key that makes SSHSIG signatures; its repr hides the key."""

    key: Any
    public_blob: bytes

    @classmethod
    def load(cls, pem: bytes | str) -> SSHSigner:
        raw = (pem.encode() if isinstance(pem, str) else pem).replace(b"\r\n", b"\n").strip()
        try:
            if b"OPENSSH PRIVATE KEY" in raw:
                key: Any = serialization.load_ssh_private_key(raw + b"\n", password=None)
            else:
                key = serialization.load_pem_private_key(raw + b"\n", password=None)
        except TypeError:
            raise SigningKeyError(
                "the signing key is encrypted; store it without a passphrase"
            ) from None
        except Exception as exc:  # the library's message may echo key bytes: name the type only
            raise SigningKeyError(
                f"the signing key is not an SSH private key ({type(exc).__name__})"
            ) from None
        if not isinstance(
            key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        ):
            raise SigningKeyError(f"the signing key type {type(key).__name__} cannot sign")
        if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name not in _CURVES:
            raise SigningKeyError(f"the signing key's curve {key.curve.name} is not supported")
        openssh = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        return cls(key, base64.b64decode(openssh.split()[1]))

    @property
    def public_line(self) -> str:
        """The public key as an ``authorized_keys`` / allowed-signers line fragment."""
        kind = _read_string(self.public_blob, 0)[0].decode()
        return f"{kind} {base64.b64encode(self.public_blob).decode()}"

    def sign(self, data: bytes, namespace: str = NAMESPACE) -> str:
        """The armored SSH signature of ``data`` in ``namespace``."""
        ns = namespace.encode()
        digest = hashlib.sha512(data).digest()
        to_sign = MAGIC + _string(ns) + _string(b"") + _string(HASH_ALGORITHM) + _string(digest)
        blob = (
            MAGIC
            + struct.pack(">I", VERSION)
            + _string(self.public_blob)
            + _string(ns)
            + _string(b"")
            + _string(HASH_ALGORITHM)
            + _string(self._signature(to_sign))
        )
        text = base64.b64encode(blob).decode()
        lines = [text[i : i + _LINE] for i in range(0, len(text), _LINE)]
        return "\n".join(["-----BEGIN SSH SIGNATURE-----", *lines, "-----END SSH SIGNATURE-----"])

    def _signature(self, message: bytes) -> bytes:
        """The SSH wire signature: string(algorithm) + string(signature bytes)."""
        key = self.key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return _string(b"ssh-ed25519") + _string(key.sign(message))
        if isinstance(key, rsa.RSAPrivateKey):
            signed = key.sign(message, padding.PKCS1v15(), hashes.SHA512())
            return _string(b"rsa-sha2-512") + _string(signed)
        name, digest = _CURVES[key.curve.name]
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(digest)))
        return _string(name) + _string(_mpint(r) + _mpint(s))


def _string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def _mpint(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    return _string(b"\x00" + raw if raw and raw[0] & 0x80 else raw)


def _read_string(data: bytes, offset: int) -> tuple[bytes, int]:
    (length,) = struct.unpack_from(">I", data, offset)
    start = offset + 4
    return data[start : start + length], start + length
