"""How the CLI words errors and results for people at a shell.

Errors name their fix as a ``tether.messages.Hint``; here it is worded as a
flag (``--insecure``), where the operator words it as an API field. Also the
one-line summary of a ``tether sync``. Every function returns one line.
"""

from __future__ import annotations

from collections.abc import Mapping

from tether.git.errors import GitError
from tether.identity import IdentityError
from tether.manifests.errors import ManifestError
from tether.messages import Hint
from tether.plan.errors import PlanError

INPUT_ERRORS: tuple[type[Exception], ...] = (ManifestError, PlanError, IdentityError)
"""Errors that mean the source is wrong, not the cluster: exit 2 in diff and sync."""

CLI_HINTS: Mapping[Hint, str] = {
    Hint.ALLOW_INSECURE: "pass --insecure to allow it",
}


def cli_message(exc: BaseException) -> str:
    """One line for ``exc`` in the CLI's words (flags, not API fields)."""
    text = exc.phrase(CLI_HINTS) if isinstance(exc, GitError) else str(exc)
    return one_line(text) or type(exc).__name__


def one_line(text: str) -> str:
    """``text`` with line breaks folded, so a tool's multi-line error stays one line."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def sync_summary(succeeded: bool, counts: Mapping[str, int]) -> str:
    """``sync succeeded: 2 created, 1 unchanged``; a failure says what it changed first."""
    done = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
    if succeeded:
        return f"sync succeeded: {done or 'nothing to change'}"
    return f"sync failed after: {done}" if done else "sync failed before changing anything"
