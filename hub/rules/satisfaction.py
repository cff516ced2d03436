"""Satisfaction low (the hospital: "a zone scoring below 80 for 3 days in a row starts corrective action"):
``satisfaction_low`` for a zone whose daily score (hub.satisfaction: the mean of the day's presses,
100/75/50/25/0) was below ``threshold`` on each of the last ``days`` complete local days. The hub then
opens a corrective-action ticket for the zone's floor manager, due ``due_days`` later, and raises the
alarm (source ``satisfaction:<zone>``, no device: no maintenance ticket).

While a zone's ticket is open no other is opened, and the days of its streak (and of its follow-up, once
judged) never open another. Once the
``followup_days`` days after the streak are complete, they are checked: *improved* when every one of them
that has a score is at or above the threshold (the alarm clears and the ticket closes), *not_improved*
when one is below (the alarm stays, the ticket stays open for the floor manager), *no_data* when none has
a score. The verdict is recorded on the ticket once. A day counts only with at least ``min_ratings``
presses; a day without enough breaks a streak.

Run by the hub's ``check_satisfaction`` (once a minute) with ``RuleContext.satisfaction`` set: one
:class:`ZoneDays` per zone with scores or an open ticket."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping

from hub.rules.base import Rule, RuleContext, RuleFamily, Setting, Signal

RULE = "satisfaction_low"
KIND = "zone"
VERDICTS = ("improved", "not_improved", "no_data")


def source(zone: str) -> str:
    return f"satisfaction:{zone}"


@dataclass(frozen=True)
class OpenAction:
    """A zone's corrective-action ticket not closed yet."""

    id: int
    followup_from: str  # first day checked after the streak (YYYY-MM-DD)
    followup_to: str  # last one
    checked: bool  # its follow-up verdict is recorded


@dataclass(frozen=True)
class ZoneDays:
    zone: str
    today: str  # the site's local date now: the days before it are complete
    scores: Mapping[str, float] = field(default_factory=dict)  # complete day -> score (days with enough presses)
    open_action: OpenAction | None = None
    last_streak_day: str = ""  # the newest day a previous ticket used (streak, judged follow-up): never again


def _day(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def streak(z: ZoneDays, days: int, threshold: float) -> list[tuple[str, float]] | None:
    """The last ``days`` complete days, oldest first, when each has a score below ``threshold`` (and is
    newer than the previous ticket's streak); None otherwise."""
    today = _day(z.today)
    out = []
    for k in range(days, 0, -1):
        d = (today - dt.timedelta(days=k)).isoformat()
        score = z.scores.get(d)
        if score is None or score >= threshold or (z.last_streak_day and d <= z.last_streak_day):
            return None
        out.append((d, score))
    return out


def followup_days(last_streak_day: str, n: int) -> tuple[str, str]:
    """The ``n`` days after a streak: (first, last)."""
    last = _day(last_streak_day)
    return (last + dt.timedelta(days=1)).isoformat(), (last + dt.timedelta(days=n)).isoformat()


def verdict(scores: list[tuple[str, float | None]], threshold: float) -> str:
    have = [s for _, s in scores if s is not None]
    if not have:
        return "no_data"
    return "improved" if all(s >= threshold for s in have) else "not_improved"


def evaluate(ctx: RuleContext) -> list[Signal]:
    """``ctx.satisfaction``: the zones' :class:`ZoneDays`. An active signal with ``days`` in its detail
    opens a ticket; one with ``verdict`` is a follow-up's result (active unless improved)."""
    rule = ctx.rules.rule(RULE)
    threshold = float(rule["threshold"])
    out = []
    for z in ctx.satisfaction:
        if not isinstance(z, ZoneDays):
            continue
        base: dict[str, Any] = dict(kind=KIND, zone=z.zone)
        a = z.open_action
        if a is None:
            s = streak(z, int(rule["days"]), threshold)
            if s is not None:
                out.append(Signal(RULE, source(z.zone), True, **base, detail={
                    "zone": z.zone, "threshold": threshold,
                    "days": [{"date": d, "score": round(v, 1)} for d, v in s]}))
        elif not a.checked and z.today > a.followup_to:
            first, last = _day(a.followup_from), _day(a.followup_to)
            checked = [((first + dt.timedelta(days=k)).isoformat()) for k in range((last - first).days + 1)]
            scores = [(d, z.scores.get(d)) for d in checked]
            v = verdict(scores, threshold)
            out.append(Signal(RULE, source(z.zone), v != "improved", **base, detail={
                "zone": z.zone, "threshold": threshold, "action_id": a.id, "verdict": v,
                "followup": [{"date": d, "score": None if s is None else round(s, 1)} for d, s in scores]}))
    return out


FAMILY = RuleFamily("satisfaction", evaluate=evaluate, rules=(
    Rule(RULE, "minor", "a zone's daily satisfaction score below threshold for days in a row: a corrective-action "
         "ticket for its floor manager, followed up on the next days; the hospital: 3 days below 80", settings=(
             Setting("threshold", 80.0, "a day scores low below this (0-100)"),
             Setting("days", 3, "raise after this many low days in a row", type="integer"),
             Setting("due_days", 7.0, "the corrective action is due this many days after it opens"),
             Setting("followup_days", 3, "the days after the streak whose scores are checked against the threshold",
                     type="integer"),
             Setting("min_ratings", 5, "a day with fewer presses in the zone has no score for the rule",
                     type="integer"),
         )),
))
