"""Credentials from a Secret-like mapping: parsing, redaction, and key files on disk."""

from __future__ import annotations

import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tether.git.auth import GitAuth, ssh_key_files
from tether.git.errors import AuthenticationError


def _key(passphrase: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption
    )


def test_from_mapping_reads_str_and_bytes() -> None:
    auth = GitAuth.from_mapping({"username": b"bob", "password": "pw", "identity.pub": "ignored"})
    assert (auth.username, auth.password, auth.bearer_token) == ("bob", "pw", None)
    assert GitAuth.from_mapping(None) == GitAuth()
    assert GitAuth.from_mapping({"bearerToken": " tok \n"}).bearer_token == "tok"


def test_password_and_token_together_are_refused() -> None:
    with pytest.raises(AuthenticationError, match="both"):
        GitAuth.from_mapping({"password": "a", "bearerToken": "b"})


def test_repr_and_fingerprint_hide_values() -> None:
    auth = GitAuth.from_mapping({"username": "bob", "password": "hunter2", "identity": b"KEYDATA"})
    text = repr(auth) + str(auth) + auth.fingerprint()
    assert "hunter2" not in text and "KEYDATA" not in text and "bob" not in text
    assert (
        auth.fingerprint()
        != GitAuth.from_mapping({"username": "bob", "password": "x"}).fingerprint()
    )


def test_key_files_are_private_and_removed() -> None:
    auth = GitAuth.from_mapping({"identity": _key(), "known_hosts": "[h]:22 ssh-ed25519 AAAA"})
    with ssh_key_files(auth) as files:
        assert files.identity is not None
        folder = files.identity.parent
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for path in (files.identity, files.known_hosts):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert b"OPENSSH PRIVATE KEY" in files.identity.read_bytes()
        assert files.known_hosts.read_text() == "[h]:22 ssh-ed25519 AAAA\n"
    assert not folder.exists()


def test_key_files_removed_on_error() -> None:
    auth = GitAuth.from_mapping({"identity": _key()})
    with pytest.raises(RuntimeError), ssh_key_files(auth) as files:
        assert files.known_hosts.read_text() == ""
        raise RuntimeError("boom")
    assert not files.known_hosts.parent.exists()


def test_passphrase_key_is_written_decrypted() -> None:
    auth = GitAuth.from_mapping({"identity": _key(b"pw-123"), "passphrase": "pw-123"})
    with ssh_key_files(auth) as files:
        assert files.identity is not None
        serialization.load_ssh_private_key(files.identity.read_bytes(), password=None)


@pytest.mark.parametrize(
    ("identity", "passphrase", "match"),
    [
        (_key(b"pw-123"), None, "needs a passphrase"),
        (_key(b"pw-123"), "nope-456", "wrong passphrase"),
        (_key(), "pw-123", "not encrypted"),
        (
            b"-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n-----END OPENSSH PRIVATE KEY-----\n",
            None,
            "cannot",
        ),
        (b"not a key at all", None, "cannot"),
    ],
)
def test_bad_identity(identity: bytes, passphrase: str | None, match: str) -> None:
    data: dict[str, str | bytes] = {"identity": identity}
    if passphrase:
        data["passphrase"] = passphrase
    with (
        pytest.raises(AuthenticationError, match=match) as caught,
        ssh_key_files(GitAuth.from_mapping(data)),
    ):
        pass
    assert "nope-456" not in str(caught.value) and "garbage" not in str(caught.value)
