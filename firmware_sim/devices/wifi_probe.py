"""Wi-Fi probe-request sensors: the networked (MQTT) probe, and the kind's registration with the
simulator (its USB serial model is firmware_sim.devices.serial_probe; what probes hear, .hearing)."""

from __future__ import annotations

from typing import Final

import numpy as np

from firmware_sim.devices.base import Emitter, MqttDeviceSim, SimModel
from firmware_sim.devices.hearing import Hearing
from firmware_sim.devices.serial_probe import SerialProbeSim
from firmware_sim.faults import POWER_LOSS, FaultSpec
from floorops.kinds.wifi_probe import KIND
from floorops.site import Device

class WifiProbeSim(MqttDeviceSim):
    """Networked probe: a batch of sightings every 5 s over MQTT, at QoS 0 (no broker queues raw MACs)."""

    telemetry_qos = 0

    def __init__(self, device: Device, site_id: str, rng: np.random.Generator, emitter: Emitter,
                 hearing: Hearing) -> None:
        super().__init__(device, site_id, rng, emitter)
        self.period_ms = 5_000
        self.hearing = hearing
        self._last_ms: int | None = None

    def tick(self, now_ms: int) -> None:
        t0 = self._last_ms if self._last_ms is not None else now_ms - self.period_ms
        self._last_ms = now_ms
        if not self.powered:
            return
        skew = self.clock(now_ms) - now_ms
        found = self.hearing.sightings(t0, now_ms, self.rng)
        self.send_telemetry(now_ms, {"sightings": [{"mac": m, "rssi": r, "ts": t + skew} for m, r, t in found]})


SIM: Final = SimModel(KIND.name, {"mqtt": WifiProbeSim, "serial": SerialProbeSim}, faults=(
    POWER_LOSS,  # placed before probe_offline: random faults draw by position (firmware_sim.faults)
    FaultSpec("probe_offline", True, 1, "probe stops reporting"),
    FaultSpec("bad_checksum", False, 1, "next line has a wrong checksum", ("serial",)),
    FaultSpec("line_noise", False, 1, "garbage bytes on the line", ("serial",)),
    FaultSpec("long_line", False, 1, "a line longer than 256 bytes", ("serial",)),
    FaultSpec("bad_fields", False, 1, "next line has a wrong field count", ("serial",)),
))
