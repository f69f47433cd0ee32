"""Push webhooks: verify a provider's delivery, read which repository and refs moved.

The pure part (``providers``, ``matching``, ``ratelimit``) takes headers and bytes and
returns typed values; ``server`` is the small aiohttp receiver that applies the size
limit, the rate limits and the secrets, and hands a verified ``Push`` to the operator
(``tether.controller.webhooks``), which refreshes the matching Repositories.
"""

from __future__ import annotations

from tether.webhook.matching import repository_matches, revision_moves, url_key
from tether.webhook.providers import (
    Delivery,
    Ignored,
    PayloadError,
    Ping,
    Provider,
    Push,
    PushedRef,
    RefKind,
    Verdict,
    WebhookError,
    parse,
    verify,
)

__all__ = [
    "Delivery",
    "Ignored",
    "PayloadError",
    "Ping",
    "Provider",
    "Push",
    "PushedRef",
    "RefKind",
    "Verdict",
    "WebhookError",
    "parse",
    "repository_matches",
    "revision_moves",
    "url_key",
    "verify",
]
