"""Ingest stalled: the hub has been failing to apply the broker's records for ``after_s`` (the database
locked by another process, a full disk, an I/O error; hub.ingest retries the same batch meanwhile).
Nothing new reaches the console while it lasts, so the operators must know.

The alarm needs the database that may be what fails: ``Hub.check_ingest`` stores it when it can, and
otherwise holds it in memory and pushes it to the connected consoles at once (``EventBus.publish_volatile``),
storing it (raised, then cleared) when the database is back. It clears when a batch commits again."""

from __future__ import annotations

from hub.rules.base import Rule, RuleContext, RuleFamily, Setting, Signal

RULE = "ingest_stalled"
SOURCE = "hub:ingest"  # ``:`` cannot occur in a device id
KIND = "hub"


def evaluate(ctx: RuleContext) -> list[Signal]:
    """Raise after ``after_s`` of failing batches (``ctx.stalled_s``, ``ctx.error``); clear as soon as
    ingest is healthy again. ``ctx.open`` counts the alarm the hub holds in memory as open."""
    is_open = (SOURCE, RULE) in ctx.open
    if ctx.stalled_s <= 0:
        return [Signal(RULE, SOURCE, False, kind=KIND, detail={"recovered": True})] if is_open else []
    if is_open or ctx.stalled_s < ctx.rules.rule(RULE)["after_s"]:
        return []
    return [Signal(RULE, SOURCE, True, kind=KIND, detail={"stalled_s": round(ctx.stalled_s, 1), "error": ctx.error})]


FAMILY = RuleFamily("ingest", evaluate=evaluate, rules=(
    Rule(RULE, "critical", "the hub has failed to apply the broker's records (database locked, disk full). "
         "No ticket: nothing to repair on the floor", settings=(
             Setting("after_s", 30.0, "raise after failing this long (s)"),
         )),
))
