"""Device clocks: a timestamp further from the edge's clock than the configured bound is corrected.

A device whose clock drifted (no NTP, a flat RTC battery) would put its points in the wrong place in
InfluxDB. The edge estimates the device's offset from the first out-of-bound message and applies it
while the clock stays out of bounds; the record is flagged ``clock_corrected`` so people can see it.
``bound_s = 0`` turns this off (the simulator's faster-than-real-time clock).
"""

from __future__ import annotations

import time

FLAG = "clock_corrected"


class ClockCorrector:
    def __init__(self, bound_s: float, now_ms: "callable[[], int] | None" = None) -> None:  # type: ignore[valid-type]
        self.bound_ms = int(bound_s * 1000)
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.offsets: dict[str, int] = {}  # device -> ms to add

    def correct(self, device_id: str, ts_ms: int) -> tuple[int, bool]:
        """Return the timestamp to store and whether it was corrected."""
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
            offset = ((now - ts_ms) // 1000) * 1000
            self.offsets[device_id] = offset
        return ts_ms + offset, True
