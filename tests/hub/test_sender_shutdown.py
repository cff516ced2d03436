"""The hub's delivering workers stop when the hub stops, even when woken in the very turn they are cancelled.

A page or webhook enqueued as the hub shuts down wakes the sender in the same event-loop turn as its
cancellation. Python 3.11's ``asyncio.wait_for`` then swallowed the cancel, the sender ran on, and the hub's
stop (and once a CI run) waited for ever."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pytest

from hub.clock import SystemClock
from hub.db import Database
from hub.notify.outbox import NotifySender
from hub.notify.settings import OutboxSettings
from hub.webhooks import WebhookSender

SENDERS: dict[str, Callable[[Database], Any]] = {
    "notify": lambda db: NotifySender(db, SystemClock(), {}, OutboxSettings()),
    "webhooks": lambda db: WebhookSender(db, ZoneInfo("Asia/Shanghai"), []),
}


def wake(sender: Any) -> None:
    """What a commit that pages or forwards does to the idle sender."""
    sender._wake.set()  # the wake-up a commit performs, without building a whole event


@pytest.mark.parametrize("kind", sorted(SENDERS))
def test_the_sender_stops_when_cancelled_in_the_turn_it_is_woken(tmp_path: Path, kind: str) -> None:
    db = Database(tmp_path / "hub.sqlite")

    async def run() -> bool:
        sender = SENDERS[kind](db)
        task = asyncio.create_task(sender.run())
        await asyncio.sleep(0.2)  # idle: parked on its wake event
        wake(sender)
        await asyncio.sleep(0)  # the wake-up completes; the sender has not resumed yet
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=3.0)
        if not done:  # stop it for good before failing
            task.cancel()
            await asyncio.wait({task}, timeout=3.0)
        return bool(done) and task.cancelled()
    try:
        assert asyncio.run(run()), f"the {kind} sender kept running after it was cancelled"
    finally:
        db.close()
