"""Service level low: a queue's share of today's called tickets called within its target wait is below
``target_share`` (judged from ``min_tickets`` calls on), cleared at ``clear_share`` (hysteresis) or when
a new day has too few calls to judge.

Not run per record: the hub evaluates it on a ticket call, with the queue's day counted from its
database (``RuleContext.service_day``, hub.service_levels.queue_counts)."""

from __future__ import annotations

from typing import Any

from hub.rules.base import Rule, RuleContext, RuleFamily, Setting, Signal

RULE = "service_level_low"


def _hysteresis(rule: dict[str, Any]) -> str | None:
    if rule["clear_share"] < rule["target_share"] or rule["target_share"] > 1 or rule["clear_share"] > 1:
        return "target_share <= clear_share <= 1 (hysteresis)"
    return None


def evaluate(ctx: RuleContext) -> list[Signal]:
    """``ctx.queue`` and ``ctx.service_day``: its day's ``called`` and ``within_target`` counts, its
    ``target_wait_s`` and its ``zone``."""
    counts, queue = ctx.service_day, ctx.queue
    if not queue or not counts:
        return []
    rule = ctx.rules.rule(RULE)
    called, within = counts["called"], counts["within_target"]
    share = within / called if called else 1.0
    detail = {"queue": queue, "called": called, "within_target": within, "service_level": round(share, 4),
              "target_share": rule["target_share"], "target_wait_s": counts.get("target_wait_s")}
    sig: dict[str, Any] = dict(source=queue, kind="queue", zone=str(counts.get("zone", "")), detail=detail)
    if called >= rule["min_tickets"] and share < rule["target_share"]:
        return [Signal(RULE, active=True, **sig)]
    if (queue, RULE) in ctx.open and (called < rule["min_tickets"] or share >= rule["clear_share"]):
        return [Signal(RULE, active=False, **sig)]
    return []


TARGET_FIELDS = ("target_wait_s",)

FAMILY = RuleFamily("service_level", evaluate=evaluate, rules=(
    Rule("service_level_low", "minor", "a queue's share of today's calls within its target wait too low",
         dispatch=True, check=_hysteresis, settings=(
             Setting("target_share", 0.8, "raise below this share of calls within the target wait ..."),
             Setting("min_tickets", 20, "... once at least this many tickets were called today", type="integer"),
             Setting("clear_share", 0.85, "clear at this share (hysteresis), or on a new day with too few calls"),
             Setting("target_wait_s", 1800.0, "target issue-to-call time (s)"),
             Setting("abandon_after_s", 14400.0, "a ticket never called within this long (s), or by the day's "
                     "end, was abandoned"),
             Setting("zone_kinds", {k: {"target_wait_s": 1500.0} for k in ("registration", "payment")},
                     "per zone kind, its own target_wait_s", type="per_zone_kind", fields=TARGET_FIELDS),
             Setting("queues", {}, "per queue id, its own target_wait_s (over its zone kind's)", type="per_queue",
                     fields=TARGET_FIELDS),
         )),
))
