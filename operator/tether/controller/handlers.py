"""The kopf layer: watch Applications, Repositories, Projects and Secrets; hand events to
the Runtime. Projects are cluster-scoped, so kopf watches them cluster-wide even in a
namespace-scoped install (the chart grants that read).

Only ``@kopf.on.event`` handlers are registered (see ``settings`` for why). They
are ``async`` so they run in the event loop (kopf runs sync handlers in threads):
they put the body into the Runtime's store, wake its queue, and return at once.
Everything else, including finalizers and status, is Tether's own code.
"""

from __future__ import annotations

from typing import Any

import kopf

from tether.constants import GROUP, VERSION
from tether.controller import settings as tsettings
from tether.controller.runtime import Runtime


def build_registry(
    runtime: Runtime, *, instance: str = "tether", watch_secrets: bool = True
) -> kopf.OperatorRegistry:
    """A registry with the handlers that feed ``runtime``."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def _configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        tsettings.configure(settings, instance=instance)

    @kopf.on.event(GROUP, VERSION, "applications", registry=registry)
    async def _application(event: Any, **_: Any) -> None:
        runtime.on_app_event(event.get("type"), event["object"])

    @kopf.on.event(GROUP, VERSION, "repositories", registry=registry)
    async def _repository(event: Any, **_: Any) -> None:
        runtime.on_repo_event(event.get("type"), event["object"])

    @kopf.on.event(GROUP, VERSION, "projects", registry=registry)
    async def _project(event: Any, **_: Any) -> None:
        runtime.on_project_event(event.get("type"), event["object"])

    if watch_secrets:

        @kopf.on.event("", "v1", "secrets", registry=registry)
        async def _secret(event: Any, **_: Any) -> None:
            # Only the name matters: the Repository reads the data itself when it runs,
            # so Secret values never pass through kopf's logging or our stores.
            runtime.on_secret_event(
                event.get("type"), {"metadata": event["object"].get("metadata", {})}
            )

    tsettings.check_registry(registry)
    return registry
