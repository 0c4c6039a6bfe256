"""Waiting for an event with a timeout without swallowing cancellation.

Python 3.11's ``asyncio.wait_for`` returns normally when the awaited event is set at the
moment the task is cancelled, so the cancellation is lost and a shutdown can hang forever
(fixed in 3.12). ``asyncio.timeout`` counts cancellations correctly.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """True when ``event`` was set within ``timeout`` seconds, False on timeout."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
