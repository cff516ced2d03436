"""Self-service kiosks: card reader, printer, the app's health and response time, and their faults."""

from __future__ import annotations

from typing import Any, Final

from floorops.contract import integer, number, text
from floorops.influx import FieldValue, line
from floorops.kinds.base import DeviceKind
from floorops.messages import DeviceMessage

EVENTS: Final = frozenset({"card_jam", "app_crash", "app_hang", "paper_out", "printer_jam", "reboot", "fault_cleared"})
CLEARABLE: Final = frozenset({"card_jam", "app_crash", "app_hang", "paper_out", "printer_jam"})
CARD_READER_STATES: Final = frozenset({"ok", "jammed", "error"})
PRINTER_STATES: Final = frozenset({"ok", "paper_low", "paper_out", "jam", "offline"})
APP_STATES: Final = frozenset({"ok", "hung", "crashed"})


def telemetry(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "cpu_pct": number(p, "cpu_pct", 0, 100),
        "mem_pct": number(p, "mem_pct", 0, 100),
        "paper_pct": number(p, "paper_pct", 0, 100),
        "card_reader": text(p, "card_reader", CARD_READER_STATES),
        "printer": text(p, "printer", PRINTER_STATES),
        "app": text(p, "app", APP_STATES),
        "resp_ms": integer(p, "resp_ms", 0, 3_600_000),
        "txn_ok": integer(p, "txn_ok", 0, 1_000_000),
        "txn_fail": integer(p, "txn_fail", 0, 1_000_000),
    }


def event(p: dict[str, Any]) -> dict[str, Any]:
    name = text(p, "event", EVENTS)
    out: dict[str, Any] = {"event": name}
    if name == "fault_cleared":
        out["fault"] = text(p, "fault", CLEARABLE)
    return out


def lines(msg: DeviceMessage, tags: dict[str, str], t: int) -> list[str]:
    fields: dict[str, FieldValue] = {**msg.data}
    if msg.seq is not None:  # telemetry always has one (the contract's header); None is no field, not a crash
        fields["seq"] = msg.seq
    return [line("kiosk", tags, fields, t)]


KIND: Final = DeviceKind(
    "kiosk", ("mqtt",), lines, history_measurement="kiosk", offline_after_s=180.0,
    validators={"telemetry": telemetry, "event": event},
    readings=("resp_ms", "paper_pct", "card_reader", "printer", "app"), rules=("kiosk",),
)
