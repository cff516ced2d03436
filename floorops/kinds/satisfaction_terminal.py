"""Satisfaction terminals: the press-button rating posts at hospital exits (very satisfied .. very
dissatisfied). Each press is an event; a heartbeat reading gives the presses counted and the battery
(docs/device-contract.md "Satisfaction terminals").

A press's score is :data:`POINTS` of its button: very satisfied 100, satisfied 75, neutral 50, dissatisfied
25, very dissatisfied 0. A zone's daily score is the mean over the day's presses (hub.satisfaction)."""

from __future__ import annotations

from typing import Any, Final

from floorops.contract import integer, number, text
from floorops.influx import FieldValue, line
from floorops.kinds.base import DeviceKind
from floorops.messages import DeviceMessage

NAME: Final = "satisfaction_terminal"
MEASUREMENT: Final = "satisfaction_terminal"  # tags site, zone, device_id (docs/architecture.md)
PRESS: Final = "press"
# The buttons, best first, and the points each is worth (0-100 scale).
BUTTONS: Final = ("very_satisfied", "satisfied", "neutral", "dissatisfied", "very_dissatisfied")
POINTS: Final = {"very_satisfied": 100, "satisfied": 75, "neutral": 50, "dissatisfied": 25, "very_dissatisfied": 0}
EVENTS: Final = frozenset({PRESS})


def telemetry(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "presses": integer(p, "presses", 0, 100_000_000),  # presses counted since the terminal started
        "battery_pct": number(p, "battery_pct", 0, 100),
    }


def event(p: dict[str, Any]) -> dict[str, Any]:
    name = text(p, "event", EVENTS)
    out: dict[str, Any] = {"event": name}
    out["button"] = text(p, "button", frozenset(BUTTONS))
    return out


def lines(msg: DeviceMessage, tags: dict[str, str], t: int) -> list[str]:
    fields: dict[str, FieldValue] = {"presses": msg.data["presses"], "battery_pct": msg.data["battery_pct"]}
    if msg.seq is not None:  # telemetry always has one (the contract's header); None is no field, not a crash
        fields["seq"] = msg.seq
    return [line(MEASUREMENT, tags, fields, t)]


KIND: Final = DeviceKind(
    NAME, ("mqtt",), lines, history_measurement=MEASUREMENT, offline_after_s=300.0,
    validators={"telemetry": telemetry, "event": event},
    readings=("presses", "battery_pct"),
)
