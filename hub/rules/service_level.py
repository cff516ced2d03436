"""Service level low: a queue's share of today's called tickets called within its target wait is below
``target_share`` (judged from ``min_tickets`` calls on), cleared at ``clear_share`` (hysteresis) or when
a new day has too few calls to judge."""

from __future__ import annotations

from typing import Any

from hub.rules.base import Signal
from hub.rules.config import RuleSet

RULE = "service_level_low"


def evaluate(queue: str, zone: str, counts: dict[str, Any], rules: RuleSet, is_open: bool) -> Signal | None:
    """``counts``: the queue's day (hub.service_levels.queue_counts) with its ``target_wait_s``."""
    rule = rules.rule(RULE)
    called, within = counts["called"], counts["within_target"]
    share = within / called if called else 1.0
    detail = {"queue": queue, "called": called, "within_target": within, "service_level": round(share, 4),
              "target_share": rule["target_share"], "target_wait_s": counts.get("target_wait_s")}
    sig = dict(source=queue, kind="queue", zone=zone, detail=detail)
    if called >= rule["min_tickets"] and share < rule["target_share"]:
        return Signal(RULE, active=True, **sig)
    if is_open and (called < rule["min_tickets"] or share >= rule["clear_share"]):
        return Signal(RULE, active=False, **sig)
    return None
