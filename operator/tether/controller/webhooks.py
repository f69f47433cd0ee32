"""The webhook receiver's view of the operator: which Repositories, which secrets, refresh.

``RepositoryDirectory`` answers the receiver (``tether.webhook.server``) from the
Runtime's watched Repositories: candidates by URL (``matching.url_key``), the
revisions their apps follow, and the Secret named in ``spec.webhook.secretRef``
(key ``token``, registered with the redactor as it is read). A refresh is the
same wake-up a ``tether.dev/refresh`` annotation causes (``triggers.WEBHOOK``,
with a new credential proof), queued in this process; the apps following the
Repository then reconcile as after any fetch. A replica that is not running the
workers (a leader-election standby) sets the annotation instead, so the leader
does the refresh. Each refresh posts a ``WebhookReceived`` Event on the Repository.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from tether.constants import REFRESH_ANNOTATION
from tether.controller import events as ev
from tether.controller import triggers
from tether.controller.redact import REDACTOR
from tether.controller.runtime import Runtime
from tether.controller.triggers import Key
from tether.webhook.matching import url_key, url_keys
from tether.webhook.providers import Provider, Push
from tether.webhook.server import Candidate

log = logging.getLogger(__name__)

TOKEN_KEY = "token"
WEBHOOK_RECEIVED = "WebhookReceived"


class SecretReader(Protocol):
    async def read(self, namespace: str, name: str) -> Mapping[str, bytes] | None: ...


class MetadataPatcher(Protocol):
    async def patch_metadata(self, key: Key, patch: dict[str, Any]) -> None: ...


def candidate_of(key: Key, body: dict[str, Any], revisions: set[str]) -> Candidate | None:
    """A Repository body as the receiver sees it; None without a URL."""
    spec = body.get("spec") or {}
    url = spec.get("url")
    if not isinstance(url, str) or not url:
        return None
    ref = (spec.get("webhook") or {}).get("secretRef") or {}
    name = ref.get("name") if isinstance(ref, dict) else None
    return Candidate(key, url, tuple(sorted(revisions)), name if isinstance(name, str) else None)


class RepositoryDirectory:
    """The ``Directory`` the operator gives its webhook receiver."""

    def __init__(
        self,
        runtime: Runtime,
        secrets: SecretReader,
        events: ev.EventRecorder,
        standby: MetadataPatcher,
    ) -> None:
        self.runtime = runtime
        self.secrets = secrets
        self.events = events
        self.standby = standby

    def candidates(self, urls: tuple[str, ...]) -> list[Candidate]:
        wanted = {k for k in (url_key(u) for u in urls) if k is not None}
        if not wanted:
            return []
        found = []
        for key, body in self.runtime.repos.items():
            candidate = candidate_of(key, body, self.runtime.wanted_revisions(key))
            if candidate is not None and url_keys(candidate.url, candidate.revisions) & wanted:
                found.append(candidate)
        return found

    async def secret(self, namespace: str, name: str) -> bytes | None:
        data = await self.secrets.read(namespace, name)
        if data is None:
            return None
        token = data.get(TOKEN_KEY)
        if token:
            REDACTOR.add(token)
        return token or None

    async def refresh(self, keys: list[Key], provider: Provider, push: Push) -> None:
        for key in keys:
            if self.runtime.active and self.runtime.alone:
                self.runtime.repo_queue.wake(key, triggers.WEBHOOK)
            else:
                await self._ask_the_leader(key)
            body = self.runtime.repos.get(key)
            if body is not None:
                message = f"{provider.value} webhook: push of {push.describe()}; refreshing"
                await self.events.normal(ev.InvolvedObject.of(body), WEBHOOK_RECEIVED, message)
        log.info(
            "%s webhook refreshed %s", provider.value, ", ".join(f"{ns}/{n}" for ns, n in keys)
        )

    async def _ask_the_leader(self, key: Key) -> None:
        """A standby's (or a shard's) refresh: the annotation, which the leader's (or every
        shard's) watch turns into one."""
        stamp = f"webhook-{time.time_ns()}"
        patch = {"metadata": {"annotations": {REFRESH_ANNOTATION: stamp}}}
        try:
            await self.standby.patch_metadata(key, patch)
        except Exception as exc:  # one Repository's failure must not fail the others
            log.warning("Repository %s/%s: could not ask for a refresh: %s", *key, exc)
