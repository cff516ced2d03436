"""An RS-485 bus of charging stations: one pymodbus RTU server answering for several unit ids.

Registers are filled from the station's state at each read (a pymodbus ``action``); the last byte
hook spoils answers for the ``bad_crc`` and ``truncated_frame`` faults and silences a station that
has lost power, exactly what a poller sees on a real bus.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import SimData, SimDevice
from pymodbus.simulator.simutils import DataType

from firmware_sim.devices.charger import ChargerSim
from floorops import contract

log = logging.getLogger(__name__)


class BusError(ValueError):
    """The site file puts two stations with the same unit id on one bus."""


def _action_for(charger: ChargerSim) -> Any:
    async def action(function_code: int, start_address: int, address: int, count: int,
                     registers: list[int], set_values: Any) -> None:
        regs = charger.registers()
        registers[start_address:start_address + len(regs)] = regs
        return None

    return action


class ModbusBus:
    """One serial port, many stations (unit ids from the site file)."""

    def __init__(self, port_path: str, chargers: list[ChargerSim], baudrate: int = 9600) -> None:
        self.port_path = port_path
        self.by_unit: dict[int, ChargerSim] = {}
        for c in chargers:
            other = self.by_unit.setdefault(c.device.unit_id, c)
            if other is not c:
                raise BusError(f"{c.device.port}: unit id {c.device.unit_id} is used by both {other.id} and {c.id}")
        self.baudrate = baudrate
        self.server: ModbusSerialServer | None = None
        self.answers = 0
        self.spoiled = 0
        self.silenced = 0

    def _devices(self) -> list[SimDevice]:
        out = []
        for unit, c in sorted(self.by_unit.items()):
            size = contract.SLOT_BASE + contract.SLOT_STRIDE * contract.MAX_SLOTS
            out.append(SimDevice(unit, simdata=[SimData(0, count=size, values=0, datatype=DataType.REGISTERS)],
                                 action=_action_for(c)))
        return out

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending or not data:
            return data
        c = self.by_unit.get(data[0])
        if c is None:
            return data
        if not c.powered:
            self.silenced += 1
            return b""
        bad = c.take_spoiler()
        if bad == "bad_crc":
            self.spoiled += 1
            return data[:-1] + bytes([data[-1] ^ 0xFF])
        if bad == "truncated_frame":
            self.spoiled += 1
            return data[: max(1, len(data) // 2)]
        self.answers += 1
        return data

    async def start(self) -> None:
        self.server = ModbusSerialServer(
            self._devices(), framer=FramerType.RTU, port=self.port_path, baudrate=self.baudrate,
            ignore_missing_devices=True, trace_packet=self._trace_packet,
        )
        await self.server.serve_forever(background=True)
        log.info("modbus bus serving", extra={"port": self.port_path, "units": sorted(self.by_unit)})

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None
        await asyncio.sleep(0)
