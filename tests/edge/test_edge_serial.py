"""Serial inputs through pseudo-terminals: USB probes (line protocol) and Modbus RTU charging stations."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path

import pytest
import serial

from edge_harness import socat_pair
from floorops import contract
from centre.services import wait_until

pytestmark = pytest.mark.integration


def probe_line(*fields: str) -> bytes:
    return contract.format_probe_line(list(fields))


def test_usb_probe_lines_and_noise_over_a_pty(make_edge, broker, influx, influx_db, tmp_path: Path) -> None:
    edge_end, our_end = tmp_path / "serial" / "probe-11", tmp_path / "serial" / "probe-11.sim"
    socat = socat_pair(edge_end, our_end)
    try:
        edge = make_edge(broker, influx, influx_db,
                         serial_probes=[{"path": str(edge_end), "baudrate": 115200}]).start()
        port = serial.Serial(str(our_end), 115200, timeout=1)
        now = int(time.time() * 1000)
        rng = random.Random(7)
        good = [probe_line("PRB", "probe-11", str(now + i), f"3c:22:fb:00:00:{i:02x}", str(-50 - i), "6")
                for i in range(20)]
        bad = [
            probe_line("PRB", "probe-11", str(now), "3c:22:fb:00:00:99", "-50", "6")[:-4] + b"00\r\n",  # checksum
            probe_line("PRB", "probe-11", str(now), "3c:22:fb:00:00:99", "-50"),  # field count
            probe_line("PRB", "probe-11", str(now), "3c:22:fb:00:00:99", "-500", "6"),  # rssi range
            probe_line("PRB", "probe-11", str(now), "3c:22:fb:00:00", "-50", "6"),  # 5-octet mac
            b"$" + b"A" * 300 + b"*00\r\n",  # over-long
            b"\x00\xff garbage \x13\x37",  # noise between lines
            b"$PRB,probe-11,12",  # interrupted by the next '$'
        ]
        stream = [probe_line("HBT", "probe-11", str(now), "3600")] + good[:10] + bad + good[10:]
        for chunk in stream:
            # Split writes at random places: the reader must reassemble lines across reads.
            cut = rng.randrange(1, len(chunk)) if len(chunk) > 1 else 1
            port.write(chunk[:cut])
            port.flush()
            port.write(chunk[cut:])
        port.flush()
        wait_until(lambda: edge.count("wifi_sighting") == 20, 20, "the 20 good sightings")
        wait_until(lambda: edge.metric("edge_rejected_total") == len(bad), 10, "every bad line rejected")
        for reason in ("bad_checksum", "field_count", "out_of_range", "bad_mac", "too_long", "noise", "bad_frame"):
            assert edge.metric("edge_rejected_total", reason=reason) >= 1, reason
        # The only status the edge wrote (its site is the test's own: no other test's retained device statuses).
        assert edge.query("SELECT device_id, state FROM device_status")[0]["values"][0][1:] == ["probe-11", "online"]
        assert edge.count("device_status") == 1
        zone = edge.query("SELECT zone, channel FROM wifi_sighting LIMIT 1")[0]["values"][0]
        assert zone[1:] == ["lab", 6]
        port.close()
    finally:
        socat.terminate()
        socat.wait(5)


STATION = [105, 2, 0b0001, 0xFFEC]  # fw 1.5, two slots, mains ok, -2.0 degC
SLOTS = [2, 2410, 350, 64, 251, 0, 12, 0, 0, 0,  # slot 0: charging 24.10 V 3.50 A 64 % 25.1 degC
         4, 0, 0, 10, 0xFFF6, 4, 90, 0]  # slot 1: fault, battery -1.0 degC, battery fault


class ModbusStation(threading.Thread):
    """A pymodbus RTU server on a PTY answering as unit 3, in its own event loop."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.ready = threading.Event()

    def run(self) -> None:
        from pymodbus.framer import FramerType
        from pymodbus.server import ModbusSerialServer
        from pymodbus.simulator import SimData, SimDevice
        from pymodbus.simulator.simutils import DataType

        regs = STATION + [0] * 6 + SLOTS + [0] * 80
        dev = SimDevice(3, simdata=[SimData(0, count=len(regs), values=regs, datatype=DataType.REGISTERS)])
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.server = ModbusSerialServer([dev], framer=FramerType.RTU, port=str(self.path), baudrate=9600,
                                             ignore_missing_devices=True)
            await self.server.serve_forever(background=True)
            self.ready.set()
            while True:
                await asyncio.sleep(3600)

        try:
            self.loop.run_until_complete(main())
        except (asyncio.CancelledError, RuntimeError):
            pass

    def stop(self) -> None:
        async def shutdown() -> None:
            if self.server is not None:
                await self.server.shutdown()
            for t in asyncio.all_tasks():
                if t is not asyncio.current_task():
                    t.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.join(10)


def test_modbus_station_polled_then_offline_after_three_failed_polls(
        make_edge, broker, influx, influx_db, tmp_path: Path) -> None:
    edge_end, our_end = tmp_path / "serial" / "rs485-a", tmp_path / "serial" / "rs485-a.sim"
    socat = socat_pair(edge_end, our_end)
    station = ModbusStation(our_end)
    station.start()
    try:
        assert station.ready.wait(10)
        edge = make_edge(broker, influx, influx_db, modbus_poll_s=0.3,
                         modbus=[{"path": str(edge_end), "baudrate": 9600, "units": [3]}]).start()
        wait_until(lambda: edge.count("charger_slot") >= 4, 30, "slot points")
        st = edge.query("SELECT * FROM charger_station WHERE device_id='charger-03' LIMIT 1")[0]
        row = dict(zip(st["columns"], st["values"][0]))
        assert row["zone"] == "emergency" and row["mains_ok"] is True and row["temperature_c"] == -2.0
        assert row["online"] is True and row["ground_fault"] is False
        slots = edge.query("SELECT * FROM charger_slot WHERE device_id='charger-03' GROUP BY slot LIMIT 1")
        by_slot = {s["tags"]["slot"]: dict(zip(s["columns"], s["values"][0])) for s in slots}
        assert by_slot["0"]["state"] == "charging" and by_slot["0"]["voltage_v"] == 24.1
        assert by_slot["0"]["current_a"] == 3.5 and by_slot["0"]["battery_temp_c"] == 25.1
        assert by_slot["1"]["fault"] == "battery_fault" and by_slot["1"]["battery_temp_c"] == -1.0
        assert edge.count("device_status", "WHERE device_id='charger-03' AND state='online'") == 1
        station.stop()  # the station stops answering
        wait_until(lambda: edge.count("device_status", "WHERE device_id='charger-03' AND state='offline'") == 1,
                   30, "offline after three failed polls")
        assert edge.count("charger_station", "WHERE device_id='charger-03' AND online=false") == 1
        assert edge.metric("edge_modbus_polls_total") >= 3
        assert edge.metric("edge_modbus_polls_total", result="failed") >= 3
    finally:
        if station.is_alive():
            station.stop()
        socat.terminate()
        socat.wait(5)
