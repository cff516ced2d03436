"""Queue screen rules: display faults (panel, network, power) until the screen reports it recovered."""

from __future__ import annotations

from floorops.topics import EdgeRecord
from hub.rules.base import Signal, device_signal
from hub.rules.config import RuleSet


def signals(rec: EdgeRecord, rules: RuleSet) -> list[Signal]:
    if rec.channel != "event":
        return []
    event = rec.data.get("event")
    if event == "display_fault":
        return [device_signal(rec, "display_fault", True, repeat=True, code=rec.data.get("code", ""))]
    if event == "display_recovered":
        return [device_signal(rec, "display_fault", False)]
    return []
