"""Kiosk rules: card jam, card reader error, app hung or crashed, printer paper out / jam / offline, slow response.

Events raise (and count repeats); ``fault_cleared`` clears the fault it names; every telemetry reading
states the current condition of reader, printer and app, so it both raises and clears.
"""

from __future__ import annotations

from hub.rules.base import Rule, RuleContext, RuleFamily, Setting, Signal, device_signal, record_of

EVENT_FAULTS = {"card_jam": "card_jam", "app_crash": "app_crashed", "app_hang": "app_hung",
                "paper_out": "paper_out", "printer_jam": "printer_jam"}
# telemetry field -> {value: alarm type raised}; every other value of the field clears these types
STATE_FAULTS = {
    "card_reader": {"jammed": "card_jam", "error": "card_reader_error"},
    "printer": {"paper_out": "paper_out", "jam": "printer_jam", "offline": "printer_offline"},
    "app": {"hung": "app_hung", "crashed": "app_crashed"},
}




def evaluate(ctx: RuleContext) -> list[Signal]:
    """A kiosk's record; a reading that says "fine" only matters for the open alarms (``ctx.open``)."""
    rec, open_ = record_of(ctx), ctx.open
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
            slow = ctx.rules.rule("slow_response")
            if resp > slow["threshold_ms"]:
                out.append(device_signal(rec, "slow_response", True, resp_ms=resp))
            elif resp <= slow["clear_below_ms"] and (rec.device_id, "slow_response") in open_:
                out.append(device_signal(rec, "slow_response", False, resp_ms=resp))
    return out


FAMILY = RuleFamily("kiosk", per_kind=True, evaluate=evaluate, rules=(
    Rule("card_jam", "major", "card stuck in the reader (event, or card_reader jammed)", ticket=True),
    Rule("card_reader_error", "major", "card reader reports an error", ticket=True),
    Rule("app_hung", "major", "the kiosk app stopped responding", ticket=True),
    Rule("app_crashed", "major", "the kiosk app crashed", ticket=True),
    Rule("paper_out", "minor", "receipt printer out of paper", ticket=True),
    Rule("printer_jam", "major", "receipt printer jammed", ticket=True),
    Rule("printer_offline", "major", "receipt printer not reachable", ticket=True),
    Rule("slow_response", "minor", "the kiosk app's slowest response (resp_ms) in a reading", settings=(
        Setting("threshold_ms", 10000.0, "raise above this response time (ms)"),
        Setting("clear_below_ms", 8000.0, "clear at or below this response time (ms)"),
    )),
))
