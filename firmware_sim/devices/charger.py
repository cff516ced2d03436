"""A wheelchair charging station: slots, batteries, faults, and its Modbus holding registers.

The station's registers are computed when the edge reads them (see links/modbus_bus.py), from the
state this class keeps up to date once a virtual minute: chairs docked and borrowed by patients,
batteries charging (about three hours from empty), temperatures, and faults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from firmware_sim.devices.base import DeviceSim, Emitter, SimModel, plain
from firmware_sim.faults import FaultSpec
from floorops import contract
from floorops.contract import SLOT_FAULTS, SLOT_STATES
from floorops.kinds.charger import KIND
from floorops.site import Device

FIRMWARE_VERSION = 203  # 2.03
CHARGE_PCT_PER_MIN = 100 / 180
DOCKED_AT_START = 0.75  # share of slots holding a chair when the simulation starts (docked overnight)
FULL_AT_START_PCT = (85.0, 100.0)  # ... nearly full
# The codes are the contract's (floorops.contract), named here for the simulation's own use.
_STATE_CODE = {name: code for code, name in SLOT_STATES.items()}
EMPTY, DOCKED, CHARGING, FULL, FAULT = (_STATE_CODE[n] for n in ("empty", "docked", "charging", "full", "fault"))
FAULT_CODE = {name: code for code, name in SLOT_FAULTS.items()
              if name in ("over_temperature", "over_current", "ground_fault", "battery_fault")}


@dataclass
class Slot:
    state: int = EMPTY
    soc: float = 0.0
    battery_temp_c: float = 24.0
    minutes_docked: int = 0
    fault: int = 0
    voltage_v: float = 0.0
    current_a: float = 0.0


class ChargerSim(DeviceSim):
    """Modbus RTU slave state; ``bad_crc``/``truncated_frame`` spoil the next answer, ``power_loss`` silences it."""

    def __init__(self, device: Device, site_id: str, rng: np.random.Generator, emitter: Emitter) -> None:
        super().__init__(device, site_id, rng, emitter)
        self.slots = [Slot() for _ in range(device.slots)]
        for s in self.slots:
            if rng.random() < DOCKED_AT_START:
                self._dock(s, float(rng.uniform(*FULL_AT_START_PCT)))
        self.temperature_c = 27.0
        self.faulty_slot: int | None = None

    # Patients ---------------------------------------------------------------------------------

    def _dock(self, s: Slot, soc: float) -> None:
        s.state, s.soc, s.minutes_docked, s.fault = DOCKED, soc, 0, 0
        s.battery_temp_c = float(self.rng.uniform(20, 28))

    def borrow(self) -> bool:
        """A patient takes the best-charged chair; False if none is docked."""
        docked = [s for s in self.slots if s.state in (DOCKED, CHARGING, FULL)]
        if not docked or not self.powered:
            return False
        best = max(docked, key=lambda s: s.soc)
        self.slots[self.slots.index(best)] = Slot()
        return True

    def dock(self, soc: float) -> bool:
        """A chair is returned to a free slot; False if the station is full (or emptied by ``take_all``)."""
        free = [s for s in self.slots if s.state == EMPTY]
        if not free or self.has("take_all"):
            return False
        self._dock(free[0], soc)
        return True

    # Time ------------------------------------------------------------------------------------

    def minute(self, now_ms: int) -> None:
        blocked = self.has("over_temperature") or self.has("ground_fault") or self.has("power_loss")
        charging = 0
        for s in self.slots:
            if s.state == EMPTY:
                s.voltage_v = s.current_a = 0.0
                continue
            s.minutes_docked = min(s.minutes_docked + 1, 65535)
            if s.state == FAULT:
                s.current_a = 0.0
                continue
            if blocked:
                s.state, s.current_a = DOCKED, 0.0
            elif s.soc >= 100.0:
                s.state, s.current_a, s.soc = FULL, 0.0, 100.0
            elif s.minutes_docked >= 1:
                s.state = CHARGING
                s.soc = min(100.0, s.soc + CHARGE_PCT_PER_MIN)
                s.current_a = round(max(0.3, 6.0 * (1.05 - s.soc / 100.0)) + float(self.rng.normal(0, 0.05)), 2)
                charging += 1
            s.voltage_v = round(24.0 + 4.8 * s.soc / 100.0 + float(self.rng.normal(0, 0.02)), 2)
            target = 24.0 + (8.0 if s.state == CHARGING else 0.0)
            s.battery_temp_c += (target - s.battery_temp_c) * 0.1
        target = 26.0 + 1.2 * charging + (12.0 if self.has("fan_fault") else 0.0)
        if self.has("over_temperature"):
            target = 72.0
        self.temperature_c += (target - self.temperature_c) * 0.2 + float(self.rng.normal(0, 0.05))

    # Faults ----------------------------------------------------------------------------------

    def on_fault(self, name: str, now_ms: int) -> None:
        super().on_fault(name, now_ms)
        if name == "take_all":
            self.slots = [Slot() for _ in self.slots]
        if name == "over_temperature":
            self.temperature_c = max(self.temperature_c, 68.0)
        if name == "over_current":
            docked = [i for i, s in enumerate(self.slots) if s.state != EMPTY] or [0]
            i = docked[int(self.rng.integers(0, len(docked)))]
            s = self.slots[i]
            if s.state == EMPTY:
                self._dock(s, 50.0)
            s.state, s.fault, s.current_a = FAULT, FAULT_CODE["over_current"], 0.0
            self.faulty_slot = i
        if name == "ground_fault":
            for s in self.slots:
                if s.state != EMPTY:
                    s.state, s.fault, s.current_a = FAULT, FAULT_CODE["ground_fault"], 0.0

    def on_clear(self, name: str, now_ms: int) -> None:
        super().on_clear(name, now_ms)
        code = FAULT_CODE.get(name)
        if code is None:
            return
        for s in self.slots:
            if s.fault == code:
                s.state, s.fault, s.minutes_docked = DOCKED, 0, 0

    def take_spoiler(self) -> str | None:
        """The bad-answer fault to apply to the next response, if one is armed."""
        return self.pending.pop(0) if self.pending else None

    # Registers -------------------------------------------------------------------------------

    def registers(self) -> list[int]:
        """Holding registers 0 .. 10 + 10*N - 1, as unsigned 16-bit values (contract table)."""
        n = len(self.slots)
        regs = [0] * (contract.SLOT_BASE + contract.SLOT_STRIDE * n)
        bits = 0 if self.has("power_loss") else contract.STATUS_MAINS_OK
        if self.has("over_temperature"):
            bits |= contract.STATUS_OVER_TEMPERATURE
        if self.has("ground_fault"):
            bits |= contract.STATUS_GROUND_FAULT
        if self.has("fan_fault"):
            bits |= contract.STATUS_FAN_FAULT
        regs[contract.REG_FIRMWARE] = FIRMWARE_VERSION
        regs[contract.REG_SLOT_COUNT] = n
        regs[contract.REG_STATUS] = bits
        regs[contract.REG_TEMPERATURE] = int(round(self.temperature_c * 10)) & 0xFFFF
        for k, s in enumerate(self.slots):
            a = contract.slot_address(k)
            regs[a:a + contract.SLOT_REGS] = [
                s.state, int(round(s.voltage_v * 100)) & 0xFFFF, int(round(s.current_a * 100)) & 0xFFFF,
                int(round(s.soc)), int(round(s.battery_temp_c * 10)) & 0xFFFF if s.state != EMPTY else 0,
                s.fault, min(s.minutes_docked, 65535) if s.state != EMPTY else 0, 0,
            ]
        return regs


SIM: Final = SimModel(KIND.name, {"modbus": plain(ChargerSim)}, faults=(
    FaultSpec("over_temperature", True, 1, "station over-temperature; charging stops"),
    FaultSpec("over_current", True, 1, "a slot draws too much current and trips"),
    FaultSpec("ground_fault", True, 1, "station ground fault; charging stops"),
    FaultSpec("fan_fault", True, 1, "station fan failed; temperature creeps up"),
    # Not a fault of the device but a rush on its stock: only by hand (weight 0), to see the low-stock alarm.
    FaultSpec("take_all", True, 0, "every chair is taken at once; none is returned here until cleared",
              repaired=False),
    FaultSpec("bad_crc", False, 1, "next Modbus answer has a CRC error"),
    FaultSpec("truncated_frame", False, 1, "next Modbus answer is cut short"),
))
