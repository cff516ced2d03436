"""Everything a device sends, checked against the device contract (floorops.contract) before use.

The rules themselves live in floorops.contract and in each kind's declaration (floorops.kinds); this module turns each kind of input (an MQTT message,
a probe line, a Modbus register block) into one typed :class:`DeviceMessage`, or raises ContractError
with a reason. No raw MAC survives validation: probe sightings are hashed right here.
"""

from __future__ import annotations

from typing import Callable

from floorops import contract
from floorops.contract import ContractError
from floorops.kinds import KindRegistry
from floorops.topics import parse_device_topic
from floorops.messages import DeviceMessage, Sighting

from edge.kinds import edge_kind

__all__ = ["DeviceMessage", "HashMac", "Sighting", "from_modbus", "from_mqtt", "from_probe_line"]


HashMac = Callable[[str], str]


def _hashed(mac: str, ts: int, rssi: int, hash_mac: HashMac, channel: int | None = None) -> Sighting:
    return Sighting(hash_mac(mac), rssi, ts, contract.is_locally_administered(mac), channel)


def from_mqtt(topic: str, payload: bytes, site_id: str, hash_mac: HashMac, kinds: KindRegistry) -> DeviceMessage:
    """A message from ``hospital/<site>/<kind>/<device_id>/<channel>``, of one of ``kinds``."""
    t = parse_device_topic(topic, kinds.mqtt_names)
    if t.site != site_id:
        raise ContractError("wrong_site", f"site {t.site!r} is not this edge's site {site_id!r}")
    body = kinds.get(t.kind).validate(t.channel, contract.decode_json(payload))
    ts = body.pop("ts")
    body.pop("v", None)
    seq = body.pop("seq", None)
    sightings: list[Sighting] = []
    if t.channel == edge_kind(t.kind).sightings_channel:
        raw = body.pop("sightings")
        sightings = [_hashed(s["mac"], s["ts"], s["rssi"], hash_mac) for s in raw]
        raw.clear()  # the raw MACs go no further than this function
    return DeviceMessage(t.kind, t.device_id, t.channel, ts, seq, body, sightings)


def from_probe_line(line: bytes, hash_mac: HashMac, kind: str) -> DeviceMessage:
    """A line from a USB probe (``$PRB`` sighting or ``$HBT`` heartbeat), CR LF already removed; ``kind``
    is the kind read over serial (``KindRegistry.reader``)."""
    parsed = contract.parse_probe_line(line)
    if isinstance(parsed, contract.ProbeSighting):
        s = _hashed(parsed.mac, parsed.ts, parsed.rssi, hash_mac, parsed.channel)
        return DeviceMessage(kind, parsed.probe_id, "telemetry", parsed.ts, None, {}, [s])
    return DeviceMessage(kind, parsed.probe_id, "heartbeat", parsed.ts, None, {"uptime_s": parsed.uptime_s})


def from_modbus(device_id: str, header: list[int], slot_regs: list[int], ts_ms: int, kind: str) -> DeviceMessage:
    """A charging station's holding registers 0..3 and its slot block (10 .. 10+10*(N-1)+7); ``kind`` is the
    kind read over Modbus (``KindRegistry.reader``)."""
    if len(header) < 4:
        raise ContractError("bad_registers", f"station header has {len(header)} registers (expected 4)")
    firmware, n_slots, status, temp_raw = header[:4]
    if not 1 <= n_slots <= contract.MAX_SLOTS:
        raise ContractError("out_of_range", f"slot count {n_slots} is outside 1..{contract.MAX_SLOTS}")
    need = contract.SLOT_STRIDE * (n_slots - 1) + contract.SLOT_REGS
    if len(slot_regs) < need:
        raise ContractError("bad_registers", f"slot block has {len(slot_regs)} registers (expected {need})")
    if status > 0x0F:
        raise ContractError("out_of_range", f"status bits {status:#x} use undefined bits")
    station = {
        "firmware": f"{firmware // 100}.{firmware % 100}",
        "slots": n_slots,
        "status_bits": status,
        "mains_ok": bool(status & contract.STATUS_MAINS_OK),
        "over_temperature": bool(status & contract.STATUS_OVER_TEMPERATURE),
        "ground_fault": bool(status & contract.STATUS_GROUND_FAULT),
        "fan_fault": bool(status & contract.STATUS_FAN_FAULT),
        "temperature_c": contract.signed16(temp_raw) / 10.0,
    }
    slots = []
    for k in range(n_slots):
        r = slot_regs[contract.SLOT_STRIDE * k: contract.SLOT_STRIDE * k + contract.SLOT_REGS]
        state, volt, curr, soc, btemp, fault, minutes = r[0], r[1], r[2], r[3], r[4], r[5], r[6]
        if state not in contract.SLOT_STATES:
            raise ContractError("out_of_range", f"slot {k}: state {state} is not 0..4")
        if fault not in contract.SLOT_FAULTS:
            raise ContractError("out_of_range", f"slot {k}: fault code {fault} is not 0..5")
        if soc > 100:
            raise ContractError("out_of_range", f"slot {k}: state of charge {soc} is above 100")
        slots.append({
            "slot": k,
            "state": contract.SLOT_STATES[state],
            "voltage_v": volt / 100.0,
            "current_a": curr / 100.0,
            "soc_pct": soc,
            "battery_temp_c": contract.signed16(btemp) / 10.0,
            "fault": contract.SLOT_FAULTS[fault],
            "minutes_docked": minutes,
        })
    # Polled, not sent: the edge numbers the polls so that the hub can deduplicate them.
    return DeviceMessage(kind, device_id, "telemetry", ts_ms, ts_ms % contract.SEQ_MODULUS,
                         {"station": station, "slots": slots})
