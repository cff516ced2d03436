"""Long waits: a queue's average wait or its waiting count above its thresholds (per queue overrides),
cleared only once both are back below ``clear_factor`` of the thresholds (hysteresis)."""

from __future__ import annotations

from floorops.topics import EdgeRecord
from hub.rules.base import Signal
from hub.rules.config import RuleSet


def thresholds(rules: RuleSet, queue: str) -> tuple[float, float]:
    rule = rules.rule("long_wait")
    own = rule["queues"].get(queue, {})
    return own.get("max_avg_wait_s", rule["max_avg_wait_s"]), own.get("max_waiting", rule["max_waiting"])


def signals(rec: EdgeRecord, rules: RuleSet, queue: str) -> list[Signal]:
    if rec.channel != "telemetry" or not queue:
        return []
    waiting, avg = rec.data.get("waiting"), rec.data.get("avg_wait_s")
    if not isinstance(waiting, (int, float)) or not isinstance(avg, (int, float)):
        return []
    max_avg, max_waiting = thresholds(rules, queue)
    factor = rules.rule("long_wait")["clear_factor"]
    detail = {"queue": queue, "waiting": waiting, "avg_wait_s": avg, "max_avg_wait_s": max_avg,
              "max_waiting": max_waiting}
    sig = dict(source=queue, device_id="", kind="queue", zone=rec.zone, device_ts=int(rec.ts or 0), detail=detail)
    if avg > max_avg or waiting > max_waiting:
        return [Signal("long_wait", active=True, **sig)]
    if avg <= max_avg * factor and waiting <= max_waiting * factor:
        return [Signal("long_wait", active=False, **sig)]
    return []
