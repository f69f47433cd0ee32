"""The engine as a library: diff and sync rendered objects against a live cluster.

Used by the CLI (``tether diff`` / ``tether sync``) and by the operator, with
no kopf involved. One ``Engine`` per process holds the client, discovery, the
OpenAPI cache, the shared resource cache and the one verdict store; each call
takes an ``AppSpec`` (``tether.appspec``) and the rendered objects. The work
is split by verb, as Flux's ``ssa`` manager is:

* ``desired.py``: key, stamp and hash the render (memoized per app);
* ``live.py``: live objects from the cache, a GET only when needed;
* ``differ.py``: ``diff`` -> ``DiffReport``, each object's ``Standing``, a
  non-empty local patch confirmed once by a server-side dry-run and the
  ``Confirmation`` kept in ``verdicts.py``'s bounded LRU;
* ``syncer.py``: ``plan`` -> ``tether.plan.Plan`` and ``sync`` ->
  ``OperationState``, once, persisted after each step and resumable.

``forget(app)`` drops everything the engine remembers about an app. Stops at
the engine: rendering sources and writing Application status are the
callers' jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tether.engine.model import DiffReport, ObjectDiff, Standing

if TYPE_CHECKING:
    from tether.engine.core import COMMON_KINDS, Engine


def __getattr__(name: str) -> Any:
    # The facade pulls in the Kubernetes client; import it on first use so that
    # importing the result types (the CLI does at start) stays cheap.
    if name in ("Engine", "COMMON_KINDS"):
        from tether.engine import core

        return getattr(core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["COMMON_KINDS", "DiffReport", "Engine", "ObjectDiff", "Standing"]
