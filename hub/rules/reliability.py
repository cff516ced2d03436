"""Fault rate above the target (the hospital: "keep smart-device faults within 5%"): ``fault_rate_high``
for a device kind whose fault rate today (hub.reliability, the daily KPI's definition) exceeds ``target``.
One alarm per kind, source ``fault_rate:<kind>``; it clears when the rate is back at or under the target
(a new local day starts at zero). Kinds with fewer than ``min_devices`` devices are not judged."""

from __future__ import annotations

from typing import Container, Mapping

from hub.rules.base import Signal
from hub.rules.config import RuleSet

RULE = "fault_rate_high"


def source(kind: str) -> str:
    return f"fault_rate:{kind}"


def evaluate(rates: Mapping[str, tuple[int, int]], rules: RuleSet,
             open_: Container[tuple[str, str]]) -> list[Signal]:
    """``rates``: kind -> (devices faulted today, devices of the kind)."""
    rule = rules.rule(RULE)
    out = []
    for kind, (faulted, total) in sorted(rates.items()):
        rate = faulted / total if total else 0.0
        over = total >= rule["min_devices"] and rate > rule["target"]
        is_open = (source(kind), RULE) in open_
        if over != is_open:
            out.append(Signal(RULE, source(kind), over, kind=kind,
                              detail={"fault_rate": round(rate, 4), "faulted": faulted, "devices": total,
                                      "target": rule["target"]}))
    return out
