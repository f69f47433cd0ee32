"""kopf settings for Tether: what kopf may write, and how it watches.

Tether registers only ``@kopf.on.event`` handlers (watch events go into the
wake-up queue; see ``handlers``). Event handlers keep no state on the object,
so kopf writes no ``last-handled-configuration`` annotation, no per-handler
progress and no finalizer of its own: the Application's annotations and status
are Tether's alone. ``check_registry`` enforces that no change-detecting
handler sneaks in. The storages are still pointed at ``status.kopf`` so that,
should one ever be added, its state lands in a declared status field instead
of in annotations.

Leader election is Tether's own Lease (``leader``), so kopf peering is off
(``standalone``): peering is designed for pausing a lower-priority operator,
needs its own CRDs, and does not make exactly one replica active.
"""

from __future__ import annotations

import logging

import kopf

FIELD_MANAGER = "tether"
STORAGE_FIELD = "status.kopf"


def configure(
    settings: kopf.OperatorSettings,
    *,
    instance: str = "tether",
    watch_timeout: int = 300,
) -> None:
    """Apply Tether's choices to kopf's settings (called from the startup handler)."""
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field=STORAGE_FIELD)
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(
        field=f"{STORAGE_FIELD}.diffbase"
    )
    settings.persistence.finalizer = "tether.dev/kopf"
    # Tether posts its own, de-duplicated Events; kopf must not turn logs into Events.
    settings.posting.enabled = False
    settings.posting.level = logging.CRITICAL
    # No CRD/namespace scanning: the CRDs come with the chart, the namespaces from flags,
    # and the namespace-scoped install has no cluster-wide list permission for them.
    settings.scanning.disabled = True
    settings.peering.standalone = True
    settings.peering.mandatory = False
    settings.watching.server_timeout = watch_timeout  # the server wants an integer
    settings.watching.client_timeout = watch_timeout + 30
    settings.watching.connect_timeout = 10
    settings.networking.error_backoffs = (1, 2, 5, 10, 20)
    settings.posting.reporting_component = "tether"
    settings.posting.reporting_instance = instance


class ChangeHandlerError(RuntimeError):
    """A handler was registered that would make kopf store state on the objects."""


def check_registry(registry: kopf.OperatorRegistry) -> None:
    """Refuse registries whose handlers would write kopf annotations or finalizers."""
    changing = registry._changing.get_all_handlers()
    spawning = registry._spawning.get_all_handlers()
    if changing or spawning:
        names = sorted(h.id for h in [*changing, *spawning])
        raise ChangeHandlerError(
            "only @kopf.on.event handlers are allowed (no diffbase/progress/finalizer "
            f"writes); found: {', '.join(names)}"
        )
