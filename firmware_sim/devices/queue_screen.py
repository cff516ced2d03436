"""A clinic's calling display: ticket events as they happen, queue telemetry every 10-20 s."""

from __future__ import annotations

from collections import deque

import numpy as np

from firmware_sim.devices.base import Emitter, MqttDeviceSim
from firmware_sim.patients import QueueEvent
from floorops.site import Device

AVG_WAIT_WINDOW_MS = 30 * 60 * 1000


class QueueScreenSim(MqttDeviceSim):
    """Counts what it shows from the events it sent: waiting = issued - called."""

    def __init__(self, device: Device, site_id: str, rng: np.random.Generator, emitter: Emitter) -> None:
        super().__init__(device, site_id, rng, emitter)
        self.period_ms = int(rng.integers(10_000, 20_001))
        self.waiting = 0
        self.serving = ""
        self.counters_open = 0
        self._waits: deque[tuple[int, float]] = deque()

    def on_queue_event(self, ev: QueueEvent) -> None:
        if ev.event == "ticket_issued":
            self.waiting += 1
        elif ev.event == "ticket_called":
            self.waiting = max(0, self.waiting - 1)
            self.serving = ev.ticket
            if ev.wait_s is not None:
                self._waits.append((ev.ts, ev.wait_s))
        body = {"event": ev.event, "queue": ev.queue, "ticket": ev.ticket}
        if ev.counter and ev.event != "ticket_issued":
            body["counter"] = ev.counter
        self.send_event(ev.ts, body)

    def avg_wait_s(self, now_ms: int) -> float:
        while self._waits and self._waits[0][0] < now_ms - AVG_WAIT_WINDOW_MS:
            self._waits.popleft()
        if not self._waits:
            return 0.0
        return round(sum(w for _, w in self._waits) / len(self._waits), 1)

    def tick(self, now_ms: int) -> None:
        self.send_telemetry(now_ms, {
            "queue": self.device.queue, "waiting": self.waiting, "serving": self.serving,
            "counters_open": self.counters_open, "avg_wait_s": self.avg_wait_s(now_ms),
        })

    def on_fault(self, name: str, now_ms: int) -> None:
        super().on_fault(name, now_ms)
        if name == "display_fault":
            code = ("panel", "network", "power")[int(self.rng.choice(3, p=[0.7, 0.2, 0.1]))]
            self.send_event(now_ms, {"event": "display_fault", "code": code, "queue": self.device.queue})

    def on_clear(self, name: str, now_ms: int) -> None:
        super().on_clear(name, now_ms)
        if name == "display_fault":
            self.send_event(now_ms, {"event": "display_recovered", "queue": self.device.queue})
