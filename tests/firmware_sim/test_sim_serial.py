"""Serial devices through real pseudo-terminals made by socat: a pyserial reader parses the probe's lines,
a pymodbus client polls the charging stations on their shared RS-485 bus."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import serial
from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusException

from firmware_sim.engine import SimOptions
from firmware_sim.runner import LiveSimulator
from floorops import contract
from floorops.config import Config
from centre.services import free_port
from floorops.site import Site

from .conftest import local_ms

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed"),
]


class Running:
    """A LiveSimulator on its own event loop in a thread, stopped at exit."""

    def __init__(self, live: LiveSimulator) -> None:
        self.live = live
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            try:
                await self.live.start()
                self.ready.set()
                await self.live.run_until_stopped()
            finally:
                await self.live.stop()

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
            self.ready.set()

    def __enter__(self) -> LiveSimulator:
        self.thread.start()
        assert self.ready.wait(30), "simulator did not start"
        if self.error:
            raise self.error
        return self.live

    def __exit__(self, *exc: object) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.live.request_stop)
        self.thread.join(20)
        assert not self.thread.is_alive()


def live_sim(tmp_path: Path, site: Site, devices: set[str], speed: float = 10.0, with_mqtt: bool = False,
             cfg: Config | None = None) -> LiveSimulator:
    cfg = cfg or Config(var_dir=str(tmp_path))
    cfg.sim.control_port = free_port()
    opts = SimOptions(seed=3, speed=speed, only_devices=devices, truth_csv=tmp_path / "truth.csv")
    return LiveSimulator(cfg, site, opts, local_ms(site, 2026, 11, 24, 10, 0), with_mqtt=with_mqtt)


@pytest.fixture
def serial_sim(tmp_path: Path, demo_site: Site) -> Iterator[LiveSimulator]:
    live = live_sim(tmp_path, demo_site, {"probe-11", "charger-01", "charger-02", "charger-04"})
    with Running(live) as running:
        yield running
    assert not any(p.alive for p in live.pairs)


def read_lines(port: serial.Serial, seconds: float) -> list[bytes]:
    buf = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        buf += port.read(4096)
    return [line for line in buf.split(b"\r\n") if line.startswith(b"$")]


def test_probe_lines_through_a_pty(serial_sim: LiveSimulator, tmp_path: Path) -> None:
    path = tmp_path / "sim" / "serial" / "probe-11"
    assert path.is_symlink()
    with serial.Serial(str(path), 115200, timeout=0.2) as port:
        port.reset_input_buffer()
        lines = read_lines(port, 3.0)
        parsed = [contract.parse_probe_line(line) for line in lines]
        assert any(isinstance(p, contract.ProbeHeartbeat) for p in parsed)
        assert any(isinstance(p, contract.ProbeSighting) for p in parsed)
        assert all(p.probe_id == "probe-11" for p in parsed)
        serial_sim.sim.inject("probe-11", "bad_checksum", serial_sim.clock.now_ms())
        bad = []
        for line in read_lines(port, 2.0):
            try:
                contract.parse_probe_line(line)
            except contract.ContractError as exc:
                bad.append(exc.reason)
        assert bad == ["bad_checksum"]


def test_modbus_stations_on_a_shared_bus(serial_sim: LiveSimulator, tmp_path: Path) -> None:
    client = ModbusSerialClient(str(tmp_path / "sim" / "serial" / "rs485-a"), framer="rtu", baudrate=9600,
                                timeout=0.5, retries=0)
    assert client.connect()
    try:
        for unit, slots in ((1, 8), (2, 6)):
            rr = client.read_holding_registers(0, count=contract.SLOT_BASE + contract.SLOT_STRIDE * slots,
                                               device_id=unit)
            assert not rr.isError()
            regs = rr.registers
            assert regs[contract.REG_FIRMWARE] == 203 and regs[contract.REG_SLOT_COUNT] == slots
            assert regs[contract.REG_STATUS] & contract.STATUS_MAINS_OK
        # charger-04 is on the other bus: nobody answers for unit 4 here.
        with pytest.raises((ModbusException, RuntimeError)):  # no answer, or an error answer
            r4 = client.read_holding_registers(0, count=4, device_id=4)
            if r4.isError():
                raise RuntimeError("error answer")
        now = serial_sim.clock.now_ms
        serial_sim.sim.inject("charger-01", "over_temperature", now())
        regs = client.read_holding_registers(0, count=4, device_id=1).registers
        assert regs[contract.REG_STATUS] & contract.STATUS_OVER_TEMPERATURE
        for spoiler in ("bad_crc", "truncated_frame"):
            serial_sim.sim.inject("charger-01", spoiler, now())
            with pytest.raises((ModbusException, RuntimeError)):
                r = client.read_holding_registers(0, count=4, device_id=1)
                if r.isError():
                    raise RuntimeError("error answer")
            time.sleep(0.3)  # the poller's inter-frame silence before the next request
            assert not client.read_holding_registers(0, count=4, device_id=1).isError()  # the next one is fine
        serial_sim.sim.inject("charger-01", "power_loss", now())
        failures = 0
        for _ in range(3):
            try:
                r = client.read_holding_registers(0, count=4, device_id=1)
                failures += int(r.isError())
            except Exception:  # noqa: BLE001 - no answer is what the poller sees
                failures += 1
        assert failures == 3  # three polls in a row: the edge marks it offline
        assert not client.read_holding_registers(0, count=4, device_id=2).isError()  # the bus still works
    finally:
        client.close()
