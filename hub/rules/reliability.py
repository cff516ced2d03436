"""Fault rate above the target (the hospital: "keep smart-device faults within 5%"): ``fault_rate_high``
for a device kind whose fault rate today (hub.reliability, the daily KPI's definition) exceeds ``target``.
One alarm per kind, source ``fault_rate:<kind>``; it clears when the rate is back at or under the target
(a new local day starts at zero). Kinds with fewer than ``min_devices`` devices are not judged.

Run by the hub's ``check_fault_rate`` (once a minute) with ``RuleContext.fault_rates`` set."""

from __future__ import annotations

from typing import Any

from hub.rules.base import Rule, RuleContext, RuleFamily, Setting, Signal

RULE = "fault_rate_high"


def source(kind: str) -> str:
    return f"fault_rate:{kind}"


def evaluate(ctx: RuleContext) -> list[Signal]:
    """``ctx.fault_rates``: kind -> (devices faulted today, devices of the kind); compared with ``ctx.open``."""
    rule = ctx.rules.rule(RULE)
    out = []
    for kind, (faulted, total) in sorted(ctx.fault_rates.items()):
        rate = faulted / total if total else 0.0
        over = total >= rule["min_devices"] and rate > rule["target"]
        is_open = (source(kind), RULE) in ctx.open
        if over != is_open:
            out.append(Signal(RULE, source(kind), over, kind=kind,
                              detail={"fault_rate": round(rate, 4), "faulted": faulted, "devices": total,
                                      "target": rule["target"]}))
    return out


def _a_share(rule: dict[str, Any]) -> str | None:
    return "target: a share between 0 and 1 (0.05 is 5%)" if rule["target"] > 1 else None


FAMILY = RuleFamily("reliability", evaluate=evaluate, rules=(
    Rule(RULE, "major", "a device kind's fault rate today (share of its devices with an equipment fault) "
         "above target; the hospital: within 5%", check=_a_share, settings=(
             Setting("target", 0.05, "raise above this share of a kind's devices with an equipment fault today"),
             Setting("min_devices", 1, "kinds with fewer devices are not judged", type="integer"),
         )),
))
