"""Ingest stalled: the hub has been failing to apply the broker's records for ``after_s`` (the database
locked by another process, a full disk, an I/O error; hub.ingest retries the same batch meanwhile).
Nothing new reaches the console while it lasts, so the operators must know.

The alarm needs the database that may be what fails: ``Hub.check_ingest`` stores it when it can, and
otherwise holds it in memory and pushes it to the connected consoles at once (``EventBus.publish_volatile``),
storing it (raised, then cleared) when the database is back. It clears when a batch commits again."""

from __future__ import annotations

from hub.rules.base import Signal
from hub.rules.config import RuleSet

RULE = "ingest_stalled"
SOURCE = "hub:ingest"  # ``:`` cannot occur in a device id
KIND = "hub"


def evaluate(stalled_s: float, rules: RuleSet, is_open: bool, error: str = "") -> Signal | None:
    """Raise after ``after_s`` of failing batches; clear as soon as ingest is healthy again."""
    if stalled_s <= 0:
        return Signal(RULE, SOURCE, False, kind=KIND, detail={"recovered": True}) if is_open else None
    if is_open or stalled_s < rules.rule(RULE)["after_s"]:
        return None
    return Signal(RULE, SOURCE, True, kind=KIND, detail={"stalled_s": round(stalled_s, 1), "error": error})
