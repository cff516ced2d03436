"""Kiosk rules: card jam, card reader error, app hung or crashed, printer paper out / jam / offline, slow response.

Events raise (and count repeats); ``fault_cleared`` clears the fault it names; every telemetry reading
states the current condition of reader, printer and app, so it both raises and clears.
"""

from __future__ import annotations

from typing import Container

from floorops.topics import EdgeRecord
from hub.rules.base import Signal, device_signal
from hub.rules.config import RuleSet

EVENT_FAULTS = {"card_jam": "card_jam", "app_crash": "app_crashed", "app_hang": "app_hung",
                "paper_out": "paper_out", "printer_jam": "printer_jam"}
# telemetry field -> {value: alarm type raised}; every other value of the field clears these types
STATE_FAULTS = {
    "card_reader": {"jammed": "card_jam", "error": "card_reader_error"},
    "printer": {"paper_out": "paper_out", "jam": "printer_jam", "offline": "printer_offline"},
    "app": {"hung": "app_hung", "crashed": "app_crashed"},
}


def signals(rec: EdgeRecord, rules: RuleSet, open_: Container[tuple[str, str]] = ()) -> list[Signal]:
    """``open_``: (source, type) of open alarms; a reading that says "fine" only matters for those."""
    d = rec.data
    out: list[Signal] = []
    if rec.channel == "event":
        event = d.get("event")
        if event in EVENT_FAULTS:
            out.append(device_signal(rec, EVENT_FAULTS[event], True, repeat=True, event=event))
        elif event == "fault_cleared" and d.get("fault") in EVENT_FAULTS:
            out.append(device_signal(rec, EVENT_FAULTS[d["fault"]], False, event=event))
    elif rec.channel == "telemetry":
        for fieldname, faults in STATE_FAULTS.items():
            value = d.get(fieldname)
            if value is None:
                continue
            for state, type_ in faults.items():
                if value == state or (rec.device_id, type_) in open_:
                    out.append(device_signal(rec, type_, value == state, **{fieldname: value}))
        resp = d.get("resp_ms")
        if isinstance(resp, (int, float)):
            slow = rules.rule("slow_response")
            if resp > slow["threshold_ms"]:
                out.append(device_signal(rec, "slow_response", True, resp_ms=resp))
            elif resp <= slow["clear_below_ms"] and (rec.device_id, "slow_response") in open_:
                out.append(device_signal(rec, "slow_response", False, resp_ms=resp))
    return out
