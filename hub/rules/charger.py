"""Wheelchair charger rules: station faults from the status bits, slot faults from each slot's fault code.

Over-temperature and ground fault are critical. Every reading states the present condition,
so the same reading that shows a fault gone clears its alarm.
"""

from __future__ import annotations

from typing import Any

from hub.rules.base import Rule, RuleContext, RuleFamily, Signal, device_signal, record_of

# Modbus slot fault codes (device contract) -> alarm type
SLOT_FAULTS = {1: "slot_over_temperature", 2: "slot_over_current", 3: "slot_ground_fault",
               4: "slot_battery_fault", 5: "slot_communication"}
SLOT_STATE_FAULT = 4


def _station_flags(station: dict[str, Any]) -> dict[str, bool]:
    """Booleans from the edge's named fields, or from the raw status bits when only those came."""
    bits = station.get("status_bits")
    def flag(name: str, bit: int) -> bool:
        if name in station:
            return bool(station[name])
        return bool(isinstance(bits, int) and bits >> bit & 1)
    mains = station["mains_ok"] if "mains_ok" in station else (bool(bits & 1) if isinstance(bits, int) else True)
    return {
        "charger_over_temperature": flag("over_temperature", 1),
        "charger_ground_fault": flag("ground_fault", 2),
        "charger_fan_fault": flag("fan_fault", 3),
        "charger_mains_lost": not bool(mains),
    }


def evaluate(ctx: RuleContext) -> list[Signal]:
    """A charger's record; a reading that says "fine" only matters for the open alarms (``ctx.open``)."""
    rec, open_ = record_of(ctx), ctx.open
    if rec.channel != "telemetry":
        return []
    out: list[Signal] = []
    station = rec.data.get("station")
    if isinstance(station, dict):
        for type_, active in _station_flags(station).items():
            if active or (rec.device_id, type_) in open_:
                out.append(device_signal(rec, type_, active, temperature_c=station.get("temperature_c")))
    slots = rec.data.get("slots")
    if isinstance(slots, list):
        for s in slots:
            if not isinstance(s, dict) or not isinstance(s.get("slot"), int):
                continue
            code = s.get("fault") if isinstance(s.get("fault"), int) else 0
            if s.get("state") == SLOT_STATE_FAULT and code not in SLOT_FAULTS:
                code = 5
            source = f"{rec.device_id}:slot{s['slot']}"
            for c, type_ in SLOT_FAULTS.items():
                if code == c or (source, type_) in open_:
                    out.append(device_signal(rec, type_, code == c, source=source, slot=s["slot"],
                                             battery_temp_c=s.get("battery_temp_c")))
    return out


FAMILY = RuleFamily("charger", per_kind=True, evaluate=evaluate, rules=(
    Rule("charger_over_temperature", "critical", "station over temperature (status bit 1)", ticket=True),
    Rule("charger_ground_fault", "critical", "station ground fault (status bit 2)", ticket=True),
    Rule("charger_fan_fault", "minor", "station fan fault (status bit 3)", ticket=True),
    Rule("charger_mains_lost", "major", "station lost mains power (status bit 0 clear)", ticket=True),
    Rule("slot_over_temperature", "critical", "slot fault code 1 (source <device>:slot<n>)", ticket=True),
    Rule("slot_over_current", "major", "slot fault code 2", ticket=True),
    Rule("slot_ground_fault", "critical", "slot fault code 3", ticket=True),
    Rule("slot_battery_fault", "major", "slot fault code 4", ticket=True),
    Rule("slot_communication", "minor", "slot fault code 5, or a faulted slot without a known code", ticket=True),
))
