"""A Wi-Fi probe on USB serial: ``$PRB`` sighting lines and a ``$HBT`` heartbeat every 10 s."""

from __future__ import annotations

import numpy as np

from firmware_sim.devices.base import DeviceSim, Emitter
from firmware_sim.devices.hearing import Hearing
from floorops import contract
from floorops.site import Device

HEARTBEAT_MS = 10_000
CHANNELS = (1, 6, 11)


class SerialProbeSim(DeviceSim):
    """Writes lines as the real probe does; bad input spoils the next line."""

    def __init__(self, device: Device, site_id: str, rng: np.random.Generator, emitter: Emitter,
                 hearing: Hearing) -> None:
        super().__init__(device, site_id, rng, emitter)
        self.period_ms = 2_000
        self.hearing = hearing
        self._last_ms: int | None = None
        self._last_hbt_ms: int | None = None
        self.boot_ms: int | None = None

    def _line(self, fields: list[str]) -> bytes:
        return contract.format_probe_line(fields)

    def _spoil(self, line: bytes, bad: str) -> bytes:
        if bad == "bad_checksum":
            good = line[-4:-2]
            wrong = f"{(int(good, 16) ^ 0x5A):02X}".encode()
            return line[:-4] + wrong + b"\r\n"
        if bad == "line_noise":
            noise = bytes(int(b) for b in self.rng.integers(0, 256, int(self.rng.integers(5, 40))))
            return noise.replace(b"$", b"#") + line[: len(line) // 2] + line
        if bad == "long_line":
            return contract.format_probe_line(["PRB", self.id, "0", "x" * 300, "-60", "6"])
        if bad == "bad_fields":
            return contract.format_probe_line(["PRB", self.id, "1763884800000", "-60"])
        return line

    def tick(self, now_ms: int) -> None:
        t0 = self._last_ms if self._last_ms is not None else now_ms - self.period_ms
        self._last_ms = now_ms
        if self.boot_ms is None:
            self.boot_ms = now_ms
        if not self.powered:
            return
        skew = self.clock(now_ms) - now_ms
        lines: list[bytes] = []
        for mac, rssi, ts in self.hearing.sightings(t0, now_ms, self.rng):
            ch = CHANNELS[int(self.rng.integers(0, 3))]
            lines.append(self._line(["PRB", self.id, str(ts + skew), mac.upper(), str(rssi), str(ch)]))
        if self._last_hbt_ms is None or now_ms - self._last_hbt_ms >= HEARTBEAT_MS:
            self._last_hbt_ms = now_ms
            uptime = (now_ms - self.boot_ms) // 1000
            lines.append(self._line(["HBT", self.id, str(now_ms + skew), str(uptime)]))
        while self.pending and lines:
            bad = self.pending.pop(0)
            if bad == "out_of_range":
                lines.insert(0, self._line(["PRB", self.id, str(now_ms + skew), "02:00:00:00:00:01", "20", "6"]))
            else:
                lines[0] = self._spoil(lines[0], bad)
        if lines:
            self.sent += len(lines)
            self.emitter.serial(self.id, b"".join(lines))

    def on_clear(self, name: str, now_ms: int) -> None:
        super().on_clear(name, now_ms)
        if name in ("power_loss", "probe_offline"):
            self.boot_ms = now_ms  # it rebooted
