"""Message pieces shared by the engine, the operator and the CLI.

Errors say what went wrong in their own words and name, as a ``Hint``, what
would fix it; how to say the fix depends on who reads it (a CLI flag for
``tether`` users, an API field for Application and Repository authors), so the
boundary picks the wording (``FIELD_HINTS`` here, the CLI's in
``tether.cli.messages``). ``join_limited`` lists items without hiding that
some were left out.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum

LIST_LIMIT = 5


class Hint(Enum):
    """A fix the user can make, phrased by the boundary that shows the error."""

    ALLOW_INSECURE = "allow-insecure"


FIELD_HINTS: Mapping[Hint, str] = {
    Hint.ALLOW_INSECURE: "set insecure: true to allow it",
}
"""Hints in the API's words: the default, used by the operator's status and events."""


def join_limited(items: Iterable[str], limit: int = LIST_LIMIT, sep: str = "; ") -> str:
    """The first ``limit`` items joined, then ``and N more`` when some were left out."""
    listed = list(items)
    shown = sep.join(listed[:limit])
    hidden = len(listed) - limit
    return f"{shown}{sep}and {hidden} more" if hidden > 0 else shown
