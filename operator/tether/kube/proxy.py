"""The HTTP proxy for the API server from the environment, read once per client.

kubectl honours ``HTTPS_PROXY``/``HTTP_PROXY`` and ``NO_PROXY``; aiohttp does too with
``trust_env=True``, but then looks them up again on every request, in a worker
thread, together with a parse of ``~/.netrc``: two thread hops per request, a
tenth of the operator's CPU time while it converges. ``env_proxy`` is that same
lookup (aiohttp's own rules) done once, for a session without ``trust_env``.

Stops at the environment; a kubeconfig's ``proxy-url`` is the client's.
"""

from __future__ import annotations

from typing import Any

from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL


def env_proxy(server: str) -> dict[str, Any]:
    """``proxy``/``proxy_auth`` request arguments for ``server`` (empty: go direct)."""
    try:
        proxy, auth = get_env_proxy_for_url(URL(server))
    except LookupError:  # no proxy for the scheme, or NO_PROXY names the host
        return {}
    return {"proxy": proxy, "proxy_auth": auth} if auth is not None else {"proxy": proxy}


__all__ = ["env_proxy"]
