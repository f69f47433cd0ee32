"""Write-back errors: one root, ``WriteBackError``, with the reason the condition shows.

Every failure of write-back (editing files, committing, pushing) is a
``WriteBackError`` whose ``reason`` is one of ``WriteBackReason``, the named
reasons of the Application's ``WriteBack`` condition. The message is one line
naming the file, the object and the cause, and never holds a Secret value.

Subclasses fix the reason, so callers raise ``FieldMoved("...")`` and the
controller maps any of them with ``error.reason``. ``WriteBackError(msg,
reason=...)`` works too, for a reason without its own class.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from tether.errors import TetherError


class WriteBackReason(StrEnum):
    """The reasons of the ``WriteBack`` condition."""

    PUSHED = "Pushed"
    PENDING = "Pending"
    PUSH_DENIED = "PushDenied"
    CONFLICT = "Conflict"
    UNSUPPORTED_SOURCE = "UnsupportedSource"
    NOT_ROUND_TRIPPABLE = "NotRoundTrippable"
    FIELD_MOVED = "FieldMoved"
    REVISION_NOT_BRANCH = "RevisionNotBranch"
    SECRET_REFUSED = "SecretRefused"
    GIT_ERROR = "GitError"
    INVALID_POINTER = "InvalidPointer"


class WriteBackError(TetherError):
    """A write-back failure; ``reason`` names it for the condition."""

    default_reason: ClassVar[WriteBackReason] = WriteBackReason.GIT_ERROR

    def __init__(self, message: str, *, reason: WriteBackReason | None = None) -> None:
        super().__init__(message)
        self.reason: WriteBackReason = reason if reason is not None else self.default_reason


class InvalidPointer(WriteBackError):
    """A field pointer does not parse."""

    default_reason = WriteBackReason.INVALID_POINTER


class UnsupportedSource(WriteBackError):
    """The source kind cannot take this edit (Jsonnet, generated names, Helm unmapped...)."""

    default_reason = WriteBackReason.UNSUPPORTED_SOURCE


class NotRoundTrippable(WriteBackError):
    """The file would not survive an unedited round trip byte for byte; it is not touched."""

    default_reason = WriteBackReason.NOT_ROUND_TRIPPABLE


class FieldMoved(WriteBackError):
    """The captured field is no longer where it was (file, document or key gone at the tip)."""

    default_reason = WriteBackReason.FIELD_MOVED


class SecretRefused(WriteBackError):
    """A Secret would be written to Git and the app does not allow it."""

    default_reason = WriteBackReason.SECRET_REFUSED


class EditRefused(WriteBackError):
    """The edit is possible in principle but refused here (alias node, existing file...).

    Its reason is UNSUPPORTED_SOURCE unless given.
    """

    default_reason = WriteBackReason.UNSUPPORTED_SOURCE


class PushDenied(WriteBackError):
    """The server refused the push (read-only credential, protected branch...)."""

    default_reason = WriteBackReason.PUSH_DENIED


class PushConflict(WriteBackError):
    """Non-fast-forward pushes kept failing up to the attempt limit."""

    default_reason = WriteBackReason.CONFLICT


class RevisionNotBranch(WriteBackError):
    """The write-back branch is a tag, a SHA or a semver range, not a branch."""

    default_reason = WriteBackReason.REVISION_NOT_BRANCH


class GitWriteError(WriteBackError):
    """Any other Git failure while committing or pushing."""

    default_reason = WriteBackReason.GIT_ERROR
