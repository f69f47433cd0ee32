"""One aiohttp application served on one host and port, in the running event loop.

The operator serves two: the probes and metrics (``controller.metrics.ProbeServer``)
and the push webhooks (``webhook.server.WebhookReceiver``), each on its own port.
Subclasses build the ``web.Application``; this class only starts and stops it.
"""

from __future__ import annotations

from aiohttp import web


class AppServer:
    """Serve ``self.app()`` on ``host:port``; port 0 picks a free one."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> int:
        """Start serving; returns the bound port (useful with port 0)."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
