"""Bounded waits that a shutdown can always interrupt (Python 3.11's wait_for can swallow the cancel)."""

from __future__ import annotations

import asyncio
from typing import Callable

from floorops.aio import acquire, wait_event


async def _woken_and_cancelled_in_one_turn(waiter: "asyncio.Task[None]", wake: Callable[[], object]) -> bool:
    """Wake ``waiter`` and cancel it before it runs again: True when it stops (as it must)."""
    await asyncio.sleep(0.05)  # parked in its wait
    wake()
    await asyncio.sleep(0)  # what it waited on completes; the waiter has not resumed yet
    waiter.cancel()
    done, _ = await asyncio.wait({waiter}, timeout=2.0)
    if not done:  # the cancel was swallowed: stop it for good before failing
        waiter.cancel()
        await asyncio.wait({waiter}, timeout=2.0)
    return bool(done) and waiter.cancelled()


def test_wait_event_returns_when_set_or_after_the_bound() -> None:
    async def run() -> tuple[bool, bool]:
        ev = asyncio.Event()
        asyncio.get_running_loop().call_later(0.02, ev.set)
        set_ = await wait_event(ev, 5.0)
        return set_, await wait_event(asyncio.Event(), 0.02)
    assert asyncio.run(run()) == (True, False)


def test_a_cancel_in_the_same_turn_as_the_wake_up_stops_the_waiter() -> None:
    async def loop_on(ev: asyncio.Event) -> None:
        while True:
            await wait_event(ev, 0.5)
            ev.clear()

    async def run() -> bool:
        ev = asyncio.Event()
        return await _woken_and_cancelled_in_one_turn(asyncio.create_task(loop_on(ev)), ev.set)
    assert asyncio.run(run())


def test_acquire_gives_up_after_the_bound_and_a_cancel_leaves_nothing_held() -> None:
    async def run() -> tuple[bool, bool, bool]:
        sem = asyncio.Semaphore(1)
        assert await acquire(sem, 1.0)
        gave_up = not await acquire(sem, 0.02)

        async def take_and_hold() -> None:
            if await acquire(sem, 5.0):
                try:
                    await asyncio.Event().wait()  # held until cancelled
                finally:
                    sem.release()

        stopped = await _woken_and_cancelled_in_one_turn(asyncio.create_task(take_and_hold()), sem.release)
        return gave_up, stopped, not sem.locked()
    assert asyncio.run(run()) == (True, True, True)
