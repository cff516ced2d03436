"""The hospital's systems (HIS, PACS, the queue system, the app back end), checked by the hub at intervals
(hub/systems.py): ``system_slow`` when a system answers slower than ``threshold_ms`` (the hospital: "alarm
when a system answers slower than 10 s") and ``system_down`` when it fails ``failures`` checks in a row.

system_slow is raised after ``consecutive`` slow answers in a row and cleared only by an answer at or under
``clear_below_ms`` (hysteresis: a system hovering around the threshold raises once, not at every check). A
failed check neither raises nor clears it: a system that stops answering is system_down's business.
system_down clears at the first successful check.

Pure functions over a small per-system record (``Track``), so that the rule's logic is tested with no hub;
the hub (``Hub.check_system``) runs ``evaluate`` after each check with ``RuleContext.system_check`` set. The alarms have no device: their source is ``system:<name>`` (``:`` never occurs in a
device id) and their kind ``hospital_system``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Container

from hub.rules.base import Rule, RuleContext, RuleFamily, RuleSet, Setting, Signal

SLOW = "system_slow"
DOWN = "system_down"
KIND = "hospital_system"  # the alarms' kind: not a device kind


def source(name: str) -> str:
    return f"system:{name}"


@dataclass(frozen=True)
class Track:
    """What the rules remember of one system between checks."""

    slow_streak: int = 0  # slow answers in a row
    fail_streak: int = 0  # failed checks in a row


@dataclass(frozen=True)
class Outcome:
    """One check's result as the rules see it."""

    ok: bool
    response_ms: float | None
    error: str = ""
    status_code: int | None = None


@dataclass(frozen=True)
class Check:
    """One check of one system, as the hub hands it to ``evaluate`` (``RuleContext.system_check``)."""

    name: str
    track: Track  # the record, already including ``outcome``
    outcome: Outcome
    slow_ms: float = 0.0  # the system's own system_slow threshold (0: the rule's)


def observe(track: Track, outcome: Outcome, threshold_ms: float) -> Track:
    """The record after one more check."""
    if not outcome.ok:
        return dataclasses.replace(track, fail_streak=track.fail_streak + 1)
    slow = outcome.response_ms is not None and outcome.response_ms > threshold_ms
    return Track(slow_streak=track.slow_streak + 1 if slow else 0, fail_streak=0)


def threshold(rules: RuleSet, override_ms: float = 0.0) -> tuple[float, float]:
    """(raise above, clear at or below) in ms; a system's own ``slow_ms`` moves both, keeping their ratio."""
    rule = rules.rule(SLOW)
    raise_ms, clear_ms = float(rule["threshold_ms"]), float(rule["clear_below_ms"])
    if override_ms > 0:
        clear_ms = override_ms * (clear_ms / raise_ms) if raise_ms else override_ms
        raise_ms = override_ms
    return raise_ms, min(clear_ms, raise_ms)


def evaluate(ctx: RuleContext) -> list[Signal]:
    """The signals after the check ``ctx.system_check`` (a ``Check``). Compared with the alarms open now
    (``ctx.open``), so a signal that could not be stored (database locked) is given again at the next check."""
    check: Check | None = ctx.system_check
    if check is None:
        return []
    name, track, outcome, rules = check.name, check.track, check.outcome, ctx.rules
    src = source(name)
    raise_ms, clear_ms = threshold(rules, check.slow_ms)
    detail = {"system": name, "response_ms": outcome.response_ms, "error": outcome.error,
              "status_code": outcome.status_code}
    out: list[Signal] = []
    down_open = (src, DOWN) in ctx.open
    if outcome.ok and down_open:
        out.append(Signal(DOWN, src, False, kind=KIND, detail=detail))
    elif not outcome.ok and not down_open and track.fail_streak >= rules.rule(DOWN)["failures"]:
        out.append(Signal(DOWN, src, True, kind=KIND, detail={**detail, "failures": track.fail_streak}))
    if not outcome.ok or outcome.response_ms is None:
        return out
    slow_open = (src, SLOW) in ctx.open
    if slow_open and outcome.response_ms <= clear_ms:
        out.append(Signal(SLOW, src, False, kind=KIND, detail=detail))
    elif not slow_open and track.slow_streak >= rules.rule(SLOW)["consecutive"]:
        out.append(Signal(SLOW, src, True, kind=KIND, detail={**detail, "threshold_ms": raise_ms}))
    return out


def state(name: str, outcome: Outcome | None, open_: Container[tuple[str, str]]) -> str:
    """What the console shows: down or slow while the alarm is open, else from the last check."""
    src = source(name)
    if (src, DOWN) in open_:
        return "down"
    if (src, SLOW) in open_:
        return "slow"
    if outcome is None:
        return "unknown"
    return "up" if outcome.ok else "failing"


def _hysteresis(rule: dict[str, Any]) -> str | None:
    if rule["clear_below_ms"] > rule["threshold_ms"]:
        return "clear_below_ms must not exceed threshold_ms (hysteresis)"
    return None


FAMILY = RuleFamily("systems", evaluate=evaluate, rules=(
    Rule(SLOW, "major", "a hospital system ([[systems.checks]]) answered slower than threshold_ms; no device: "
         "the alarm goes to whoever runs the hospital's IT", check=_hysteresis, settings=(
             Setting("threshold_ms", 10000.0, "raise above this response time (ms; a check's own slow_ms "
                     "overrides it)"),
             Setting("clear_below_ms", 8000.0, "clear only at or below this response time (ms; hysteresis)"),
             Setting("consecutive", 1, "slow answers in a row before raising", type="integer"),
         )),
    Rule(DOWN, "critical", "a hospital system failed its check (refused, timed out, wrong status or body, "
         "certificate) this many times in a row; the first success clears it", settings=(
             Setting("failures", 3, "failed checks in a row before raising", type="integer"),
         )),
))
