"""A self-service kiosk: transactions from the patient flow, paper use, card reader, printer, app."""

from __future__ import annotations

from typing import Final

import numpy as np

from firmware_sim.devices.base import Emitter, MqttDeviceSim, SimModel, plain
from firmware_sim.faults import FaultSpec
from floorops.kinds.kiosk import KIND
from floorops.site import Device

PAPER_PER_RECEIPT = 0.25  # percent of a roll
RECEIPT_SHARE = 0.6
PAPER_LOW_PCT = 10.0
STATE_OF_FAULT = {
    "card_jam": ("card_reader", "jammed"),
    "paper_out": ("printer", "paper_out"),
    "printer_jam": ("printer", "jam"),
    "app_hang": ("app", "hung"),
    "app_crash": ("app", "crashed"),
}


class KioskSim(MqttDeviceSim):
    def __init__(self, device: Device, site_id: str, rng: np.random.Generator, emitter: Emitter) -> None:
        super().__init__(device, site_id, rng, emitter)
        self.period_ms = int(rng.integers(20_000, 40_001))
        self.paper_pct = float(rng.uniform(35, 100))
        self.mem_pct = float(rng.uniform(40, 55))
        self.txn_ok = 0
        self.txn_fail = 0
        self.slowest_ms = 0
        self._last_tick_ms: int | None = None
        self._rebooted = False  # power came back: announce the reboot with the next report
        # The desk staff change a roll once the kiosk reports paper_low, after the technician's usual delay
        # (repair_due; None with repair_min 0: nobody does). A roll used up first is a paper_out fault.
        self._refill_ms: int | None = None
        self._refill_asked = False

    def state(self) -> dict[str, str]:
        out = {"card_reader": "ok", "printer": "ok", "app": "ok"}
        if self.paper_pct <= PAPER_LOW_PCT:
            out["printer"] = "paper_low"
        for f in self.faults:
            if f in STATE_OF_FAULT:
                key, value = STATE_OF_FAULT[f]
                out[key] = value
        return out

    def transactions(self, count: int, now_ms: int) -> None:
        """Patients use the kiosk; each may fail because of a fault."""
        if not self.powered:
            return
        st = self.state()
        for _ in range(count):
            if st["app"] != "ok":
                if st["app"] == "hung":
                    self.txn_fail += 1
                    self.slowest_ms = max(self.slowest_ms, int(self.rng.integers(30_000, 90_000)))
                continue
            prints = self.rng.random() < RECEIPT_SHARE
            if st["card_reader"] != "ok" and self.rng.random() < 0.6:
                self.txn_fail += 1
                continue
            if prints and st["printer"] in ("paper_out", "jam"):
                self.txn_fail += 1
                continue
            self.txn_ok += 1
            self.slowest_ms = max(self.slowest_ms, int(self.rng.lognormal(6.6, 0.35)))
            if prints:
                self.paper_pct = max(0.0, self.paper_pct - PAPER_PER_RECEIPT)
                if self.paper_pct <= PAPER_LOW_PCT and not self._refill_asked:
                    self._refill_asked, self._refill_ms = True, self.repair_due(now_ms)
                if self.paper_pct <= 0.0 and not self.has("paper_out"):
                    self.inject("paper_out", now_ms, self.repair_due(now_ms))

    def repairs_due(self, now_ms: int) -> None:
        super().repairs_due(now_ms)
        if self._refill_ms is not None and now_ms >= self._refill_ms:
            self._new_roll()

    def _new_roll(self) -> None:
        self.paper_pct = 100.0
        self._refill_ms, self._refill_asked = None, False

    def tick(self, now_ms: int) -> None:
        if self._rebooted and self.powered:
            self._rebooted = False
            self.send_event(now_ms, {"event": "reboot"})
        st = self.state()
        interval_min = max(1.0, (now_ms - (self._last_tick_ms or now_ms - self.period_ms)) / 60_000)
        self._last_tick_ms = now_ms
        load = (self.txn_ok + self.txn_fail) / interval_min
        if st["app"] == "crashed":
            cpu, resp = float(self.rng.uniform(1, 4)), 0
        elif st["app"] == "hung":
            cpu, resp = float(self.rng.uniform(95, 100)), max(self.slowest_ms, 30_000)
        else:
            cpu = min(100.0, 6 + 9 * load + float(self.rng.normal(0, 2)))
            resp = self.slowest_ms or int(self.rng.integers(150, 400))
        self.mem_pct = float(np.clip(self.mem_pct + self.rng.normal(0, 0.3), 30, 95))
        self.send_telemetry(now_ms, {
            "cpu_pct": round(max(0.0, cpu), 1), "mem_pct": round(self.mem_pct, 1),
            "paper_pct": int(round(self.paper_pct)), **st, "resp_ms": int(resp),
            "txn_ok": self.txn_ok, "txn_fail": self.txn_fail,
        })
        self.txn_ok = self.txn_fail = self.slowest_ms = 0

    def on_fault(self, name: str, now_ms: int) -> None:
        super().on_fault(name, now_ms)
        if name == "paper_out":
            self.paper_pct = 0.0
        if name in STATE_OF_FAULT:
            self.send_event(now_ms, {"event": name})

    def on_clear(self, name: str, now_ms: int) -> None:
        super().on_clear(name, now_ms)
        if name == "power_loss":
            self._rebooted = True
            self.txn_ok = self.txn_fail = self.slowest_ms = 0
        if name == "paper_out":
            self._new_roll()  # the technician loads a new roll
        if name in ("app_hang", "app_crash"):
            self.send_event(now_ms, {"event": "reboot"})
        if name in STATE_OF_FAULT:
            self.send_event(now_ms, {"event": "fault_cleared", "fault": name})


SIM: Final = SimModel(KIND.name, {"mqtt": plain(KioskSim)}, faults=(
    FaultSpec("card_jam", True, 3, "card reader jammed; card payments fail"),
    FaultSpec("app_hang", True, 2, "kiosk application hung: slow, every transaction fails"),
    FaultSpec("app_crash", True, 1, "kiosk application crashed; no transactions"),
    FaultSpec("paper_out", True, 2, "receipt printer out of paper"),
    FaultSpec("printer_jam", True, 2, "receipt printer jammed"),
))
