"""Device clocks: a timestamp further from the edge's clock than the configured bound is corrected.

A device whose clock drifted (no NTP, a flat RTC battery) would put its points in the wrong place in
InfluxDB. The edge estimates the device's offset from the first out-of-bound message and applies it
while the clock stays out of bounds; the record is flagged ``clock_corrected`` so people can see it.
``bound_s = 0`` turns this off (the simulator's faster-than-real-time clock).

A message can also be old because it was late, not because the clock is wrong: the broker holds the
devices' messages while the edge is down or its buffer is full, and delivers them minutes later. Those
keep their time: moved to "now" they shifted the history by the length of the outage and landed on the
times of later readings of the same device, which overwrote them in InfluxDB (seen as lost readings in
tests/chaos after a full disk). The caller tells a late message apart by the device's sequence: it is in
order with the device's previous message (a newer seq and a newer time, or an older seq and an older
time). A wrong clock shows as a time out of order with its seq (a jump back), from a device's first
message, after it restarted, or beyond ``MAX_HELD_S``.
"""

from __future__ import annotations

import time
from typing import Callable

FLAG = "clock_corrected"
MAX_HELD_S = 24 * 3600  # an in-order message older than this is taken for a wrong clock, not a late delivery


class ClockCorrector:
    def __init__(self, bound_s: float, now_ms: Callable[[], int] | None = None) -> None:
        self.bound_ms = int(bound_s * 1000)
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.offsets: dict[str, int] = {}  # device -> ms to add

    def correct(self, device_id: str, ts_ms: int, in_order: bool = False) -> tuple[int, bool]:
        """Return the timestamp to store and whether it was corrected. ``in_order``: the message's time is
        in order with the device's previous message by seq (so an old time means a late delivery)."""
        if self.bound_ms <= 0:
            return ts_ms, False
        now = self._now_ms()
        if abs(now - ts_ms) <= self.bound_ms:
            self.offsets.pop(device_id, None)
            return ts_ms, False
        offset = self.offsets.get(device_id)
        # Keep a known offset while it still explains the clock (to the second), so that the spacing of
        # the device's own timestamps survives; otherwise take a new one.
        if offset is None or abs(now - (ts_ms + offset)) > self.bound_ms:
            if offset is None and in_order and 0 < now - ts_ms <= MAX_HELD_S * 1000:
                return ts_ms, False  # late, held by the broker: its time is right
            offset = ((now - ts_ms) // 1000) * 1000
            self.offsets[device_id] = offset
        return ts_ms + offset, True
