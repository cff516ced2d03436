"""Queue calling screens: the waiting line of one queue, and its ticket events (docs/device-contract.md)."""

from __future__ import annotations

from typing import Any, Final

from floorops.contract import integer, number, text
from floorops.influx import FieldValue, line
from floorops.kinds.base import DeviceFields, DeviceKind
from floorops.messages import DeviceMessage

EVENTS: Final = frozenset(
    {"ticket_issued", "ticket_called", "ticket_served", "ticket_no_show", "display_fault", "display_recovered",
     "cmd_ack"}
)
DISPLAY_FAULT_CODES: Final = frozenset({"panel", "network", "power"})


def telemetry(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "queue": text(p, "queue"),
        "waiting": integer(p, "waiting", 0, 100_000),
        "serving": text(p, "serving", max_len=32) if p.get("serving") not in (None, "") else "",
        "counters_open": integer(p, "counters_open", 0, 1000),
        "avg_wait_s": number(p, "avg_wait_s", 0, 7 * 86400),
    }


def event(p: dict[str, Any]) -> dict[str, Any]:
    name = text(p, "event", EVENTS)
    out: dict[str, Any] = {"event": name}
    if name.startswith("ticket_"):
        out["queue"] = text(p, "queue")
        out["ticket"] = text(p, "ticket", max_len=32)
        if "counter" in p:
            out["counter"] = text(p, "counter", max_len=32)
    elif name == "display_fault":
        out["code"] = text(p, "code", DISPLAY_FAULT_CODES)
    elif name == "cmd_ack":  # the screen shows the hub's command ``cmd`` (floorops.downlink)
        out["cmd"] = text(p, "cmd")
    if "queue" in p and "queue" not in out:
        out["queue"] = text(p, "queue")
    return out


MEASUREMENT: Final = "queue_screen"  # tags site, zone, device_id, queue (docs/architecture.md)


def lines(msg: DeviceMessage, tags: dict[str, str], t: int) -> list[str]:
    d = msg.data
    fields: dict[str, FieldValue] = {"waiting": d["waiting"], "serving": d["serving"],
                                     "counters_open": d["counters_open"], "avg_wait_s": d["avg_wait_s"]}
    if msg.seq is not None:  # telemetry always has one (the contract's header); None is no field, not a crash
        fields["seq"] = msg.seq
    return [line(MEASUREMENT, {**tags, "queue": d["queue"]}, fields, t)]


def check_device(d: DeviceFields, queues: frozenset[str]) -> str | None:
    """A screen shows one queue of the site."""
    return None if d.queue in queues else f"unknown queue {d.queue!r}"


KIND: Final = DeviceKind(
    "queue_screen", ("mqtt",), lines, history_measurement=MEASUREMENT, offline_after_s=90.0,
    validators={"telemetry": telemetry, "event": event},
    readings=("waiting", "avg_wait_s", "counters_open"), rules=("display", "waits"),
    commanded=True, check_device=check_device,
)
