"""A bounded wait for unit tests that drive background tasks (a positive signal, not a sleep)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def settle(done: Callable[[], bool], timeout: float = 5.0) -> None:
    """Yield to the event loop until ``done()`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done():
        if loop.time() > deadline:
            raise AssertionError(f"not settled after {timeout}s")
        await asyncio.sleep(0.01)
