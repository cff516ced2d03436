"""Queue screen rules: display faults (panel, network, power) until the screen reports it recovered."""

from __future__ import annotations

from hub.rules.base import Rule, RuleContext, RuleFamily, Signal, device_signal, record_of


def evaluate(ctx: RuleContext) -> list[Signal]:
    rec = record_of(ctx)
    if rec.channel != "event":
        return []
    event = rec.data.get("event")
    if event == "display_fault":
        return [device_signal(rec, "display_fault", True, repeat=True, code=rec.data.get("code", ""))]
    if event == "display_recovered":
        return [device_signal(rec, "display_fault", False)]
    return []


FAMILY = RuleFamily("display", per_kind=True, evaluate=evaluate, rules=(
    Rule("display_fault", "major", "a queue screen's panel, network or power fault", ticket=True),
))
