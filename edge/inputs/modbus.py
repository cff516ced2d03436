"""Wheelchair charging stations: Modbus RTU polling over RS-485 (pymodbus over pyserial).

One thread per bus (several stations share a bus and must be asked one at a time). Each poll reads the
station header (registers 0..3) and then its slot block; a station that fails three polls in a row is
reported offline (device contract), and online again on its next good answer.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusException

from floorops import contract
from floorops.site import Site

from edge.metrics import EdgeMetrics
from edge.pipeline import Item, Liveness, ModbusRead

log = logging.getLogger(__name__)


class ModbusBusPoller(threading.Thread):
    def __init__(self, path: str, baudrate: int, units: list[int], site: Site, poll_s: float,
                 put: Callable[[Item], None], metrics: EdgeMetrics, stop: threading.Event,
                 timeout_s: float = 1.0, now_ms: Callable[[], int] | None = None) -> None:
        super().__init__(name=f"modbus-{Path(path).name}", daemon=True)
        self.path = path
        self.bus = Path(path).name
        self.baudrate = baudrate
        self.units = units
        self.poll_s = poll_s
        self.put = put
        self.metrics = metrics
        self.stop_event = stop
        self.timeout_s = timeout_s
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))  # the centre's clock (floorops/clock.py)
        self.kind = site.kinds.reader("modbus") or ""  # the kind whose register map is read (floorops.kinds)
        by_port = {(d.port, d.unit_id): d.id for d in site.devices_of(self.kind)}
        self.device_ids = {u: by_port.get((self.bus, u), f"{self.bus}-unit{u}") for u in units}
        self.failures = {u: 0 for u in units}
        self.online: dict[int, bool | None] = {u: None for u in units}

    def _read(self, client: ModbusSerialClient, unit: int, address: int, count: int) -> list[int]:
        r = client.read_holding_registers(address, count=count, device_id=unit)
        if r.isError():
            raise ModbusException(f"unit {unit} answered with an error: {r}")
        return list(r.registers)

    def failed(self, unit: int, now_ms: int, error: str) -> None:
        """No answer, a CRC error or an exception: the third in a row makes the station offline."""
        self.metrics.modbus_polls.inc(result="failed")
        self.failures[unit] += 1
        log.debug("modbus poll failed", extra={"device_id": self.device_ids[unit], "error": error})
        if self.failures[unit] >= contract.OFFLINE_AFTER_FAILED_POLLS and self.online[unit] is not False:
            self.online[unit] = False
            self.put(Liveness(self.kind, self.device_ids[unit], "offline", now_ms, f"modbus:{self.bus}/{unit}"))

    def poll_unit(self, client: ModbusSerialClient, unit: int) -> None:
        device_id = self.device_ids[unit]
        now_ms = self.now_ms()
        try:
            header = self._read(client, unit, 0, 4)
            n = header[1]
            slot_regs: list[int] = []
            if 1 <= n <= contract.MAX_SLOTS:
                slot_regs = self._read(client, unit, contract.SLOT_BASE,
                                       contract.SLOT_STRIDE * (n - 1) + contract.SLOT_REGS)
        except (ModbusException, OSError, ValueError) as exc:
            self.failed(unit, now_ms, str(exc))
            return
        self.metrics.modbus_polls.inc(result="ok")
        self.failures[unit] = 0
        if self.online[unit] is not True:
            self.online[unit] = True
            self.put(Liveness(self.kind, device_id, "online", now_ms, f"modbus:{self.bus}/{unit}"))
        self.put(ModbusRead(self.bus, unit, device_id, header, slot_regs, now_ms))

    def run(self) -> None:
        client = ModbusSerialClient(self.path, baudrate=self.baudrate, timeout=self.timeout_s, retries=0)
        try:
            while not self.stop_event.is_set():
                started = time.monotonic()
                if not client.connected and not client.connect():
                    for unit in self.units:  # an absent bus counts as a failed poll of each station
                        self.failed(unit, self.now_ms(), "bus unavailable")
                else:
                    for unit in self.units:
                        if self.stop_event.is_set():
                            break
                        self.poll_unit(client, unit)
                self.stop_event.wait(max(0.0, self.poll_s - (time.monotonic() - started)))
        finally:
            client.close()
