"""Long waits: a queue's average wait or its waiting count above its thresholds (per queue overrides),
cleared only once both are back below ``clear_factor`` of the thresholds (hysteresis)."""

from __future__ import annotations

from hub.rules.base import Rule, RuleContext, RuleFamily, RuleSet, Setting, Signal, record_of


def thresholds(rules: RuleSet, queue: str) -> tuple[float, float]:
    rule = rules.rule("long_wait")
    own = rule["queues"].get(queue, {})
    return own.get("max_avg_wait_s", rule["max_avg_wait_s"]), own.get("max_waiting", rule["max_waiting"])


def evaluate(ctx: RuleContext) -> list[Signal]:
    """A queue screen's reading of ``ctx.queue`` (the hub has applied it to the queue's live state)."""
    rec, rules, queue = record_of(ctx), ctx.rules, ctx.queue
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


FAMILY = RuleFamily("waits", per_kind=True, evaluate=evaluate, rules=(
    Rule("long_wait", "minor", "a queue's average wait or waiting count over its thresholds", dispatch=True,
         settings=(
             Setting("max_avg_wait_s", 2700.0, "raise when the average wait is above this (s), or ..."),
             Setting("max_waiting", 60.0, "... when more people than this are waiting"),
             Setting("clear_factor", 0.8, "clear when both are below this fraction of their thresholds"),
             Setting("queues", {}, "per queue id, its own max_avg_wait_s and/or max_waiting", type="per_queue",
                     fields=("max_avg_wait_s", "max_waiting")),
         )),
))
