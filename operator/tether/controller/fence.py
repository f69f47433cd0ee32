"""The fence around an app's sync operation: may this replica run its next step?

One replica (the default) is never fenced: ``NO_FENCE`` lets every step go. A
shard of several (``tether.sharding.shard``) implements ``OperationFence``:
``begin`` claims the operation on the Application with a resourceVersion
precondition before the first write, and ``check`` runs before each step is
recorded, so a replica that lost the app (or whose own Lease may have expired)
stops before starting another step. Both raise ``Fenced``; the controller then
leaves the operation Running for the new owner to resume.
"""

from __future__ import annotations

from typing import Protocol

from tether.controller.triggers import Key


class Fenced(Exception):
    """This replica may not go on with the app's operation (another shard owns it)."""


class OperationFence(Protocol):
    async def begin(self, key: Key) -> None:
        """Claim the app's operation before it starts or resumes; raise ``Fenced`` if not ours."""
        ...

    def check(self, key: Key) -> None:
        """Raise ``Fenced`` when the operation must not take another step here."""
        ...


class NoFence:
    """The single-replica fence: every operation is ours."""

    async def begin(self, key: Key) -> None:
        return None

    def check(self, key: Key) -> None:
        return None


NO_FENCE = NoFence()
