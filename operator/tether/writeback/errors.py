"""The write-back errors: one enum of reasons (the WriteBack condition's) and one base class.

Every failure of the write-back path (edit, commit, push) is a ``WriteBackError``
whose ``reason`` is the condition reason the operator shows and whose message is
one line naming the file, the object and the cause. Subclasses live with the code
that raises them.
"""

from __future__ import annotations

from enum import StrEnum

from tether.errors import TetherError


class WriteBackReason(StrEnum):
    """The WriteBack condition's reasons."""

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
    """A write-back failure: ``reason`` for the condition, a one-line message for people."""

    reason: WriteBackReason

    def __init__(self, reason: WriteBackReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
