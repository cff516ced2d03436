"""Waiting with a bound that a shutdown can always interrupt.

Python 3.11's ``asyncio.wait_for`` swallows a cancellation that arrives just after the awaited thing
completed (CPython gh-86296, fixed in 3.12 by rewriting it over ``asyncio.timeout``): a worker loop that
waits on a wake event and is cancelled in the same turn as it is woken runs on, and whoever awaits its
shutdown waits for ever. ``asyncio.timeout`` has no such window, so every bounded wait goes through here."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """True once ``event`` is set, False after ``timeout_s``; a cancellation always propagates."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True


async def acquire(lock: asyncio.Semaphore | asyncio.Lock, timeout_s: float) -> bool:
    """Take ``lock`` within ``timeout_s`` (True) or give up (False, nothing held); a cancellation always
    propagates and leaves nothing held."""
    try:
        async with asyncio.timeout(timeout_s):
            await lock.acquire()
    except TimeoutError:
        return False
    return True
