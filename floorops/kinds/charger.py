"""Wheelchair charging stations, polled by the edge over Modbus RTU (floorops.contract's register map)."""

from __future__ import annotations

from typing import Final

from floorops.contract import MAX_SLOTS
from floorops.influx import line
from floorops.kinds.base import DeviceFields, DeviceKind
from floorops.messages import DeviceMessage

# A docked chair counts as charged from this state of charge: the hub's default (wheelchair_low_stock's
# charged_soc_pct) and what the simulator's history assumes (firmware_sim/wheelchair_history.py).
CHARGED_SOC_PCT: Final = 80.0
STATION_FIELDS: Final = ("status_bits", "mains_ok", "over_temperature", "ground_fault", "fan_fault", "temperature_c")


def lines(msg: DeviceMessage, tags: dict[str, str], t: int) -> list[str]:
    """The station's own point, and one per slot."""
    d = msg.data
    station = {k: d["station"][k] for k in STATION_FIELDS}
    station["online"] = True
    out = [line("charger_station", tags, station, t)]
    for s in d["slots"]:
        out.append(line("charger_slot", {**tags, "slot": str(s["slot"])}, {k: v for k, v in s.items() if k != "slot"}, t))
    return out


def offline_lines(tags: dict[str, str], t: int) -> list[str]:
    """A station that stopped answering: ``online=false`` so dashboards show the gap."""
    return [line("charger_station", tags, {"online": False}, t)]


def check_device(d: DeviceFields, queues: frozenset[str]) -> str | None:
    """A station answers at a Modbus unit id and has a known number of slots."""
    return None if 1 <= d.unit_id <= 247 and 1 <= d.slots <= MAX_SLOTS else \
        f"chargers need unit_id 1..247 and slots 1..{MAX_SLOTS}"


# Its messages are made by the edge from Modbus reads (edge.processors.validate.from_modbus), not sent by
# the device: no MQTT validators, and no device seq.
KIND: Final = DeviceKind(
    "charger", ("modbus",), lines, history_measurement="charger_station", offline_after_s=60.0,
    rules=("charger", "wheelchairs"), device_seq=False, offline_lines=offline_lines,
    check_device=check_device,
)
