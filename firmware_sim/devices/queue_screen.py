"""A clinic's calling display: ticket events as they happen, queue telemetry every 10-20 s."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Final

import numpy as np

from firmware_sim.devices.base import Emitter, MqttDeviceSim, SimModel, plain
from firmware_sim.faults import FaultSpec
from firmware_sim.patients import QueueEvent
from floorops.contract import ContractError
from floorops.downlink import command_fields, parse_command
from floorops.kinds.queue_screen import KIND
from floorops.site import Device

log = logging.getLogger(__name__)

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
        # What the screen shows from the hub's commands (floorops.downlink): a guide or reroute, and a notice,
        # each with the virtual time until which it is shown.
        self.display: dict[str, tuple[dict[str, Any], int] | None] = {"guide": None, "notice": None}
        self.commands_rejected = 0

    def on_command(self, payload: bytes, now_ms: int) -> None:
        """A command from the hub: shown, then acknowledged with a ``cmd_ack`` event (not with ``no_ack``).
        Its lifetime (``expires_at - ts``) runs from now on the screen's own clock, as firmware would do
        with a hub whose clock differs from its own."""
        if not self.powered:
            return
        try:
            cmd = parse_command(payload)
        except ContractError as exc:
            self.commands_rejected += 1
            log.warning("command rejected", extra={"device": self.id, "reason": exc.reason})
            return
        until = now_ms + (cmd.expires_at - cmd.ts) if cmd.expires_at else 2**62
        self.display["notice" if cmd.type == "notice" else "guide"] = (command_fields(cmd), until)
        if not self.has("no_ack"):
            self.send_event(now_ms, {"event": "cmd_ack", "cmd": cmd.id})

    def shown(self, now_ms: int) -> dict[str, Any]:
        """What the screen shows now (expired commands are gone), for the control API and tests."""
        return {slot: (entry[0] if entry is not None and entry[1] > now_ms else None)
                for slot, entry in self.display.items()}

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


SIM: Final = SimModel(KIND.name, {"mqtt": plain(QueueScreenSim)}, faults=(
    FaultSpec("display_fault", True, 2, "calling display panel fault"),
    # Weight 0: only by hand (inject).
    FaultSpec("no_ack", True, 0, "screen shows the hub's commands but never acknowledges them",
              repaired=False),
))
