"""Component crash loop: ``make run``'s launcher restarted the same component ``max_restarts`` times within
``window_s`` (centre.supervision). One restart is an event, not an alarm (the component is back within
seconds); a component that keeps crashing needs someone to read its log. The alarm clears when the
launcher says the component has run steadily again (the ``steady`` notice).

The notices carry the launcher's recent restart times, so the count survives the hub itself crash-looping
(its own notices wait in the broker while it is down)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hub.rules.base import Rule, RuleContext, RuleFamily, Setting, Signal

RULE = "component_crashloop"
KIND = "component"  # the alarm's kind: not a device kind


def source(component: str) -> str:
    """The alarm source of a component; ``:`` cannot occur in a device id, so it never names a device."""
    return f"component:{component}"


@dataclass
class Notice:
    """One launcher notice (floorops.topics.supervisor_topic): a restart, or steady running again."""

    component: str
    event: str  # restarted | steady
    ts: int  # epoch ms, the launcher's clock
    run: str  # the launcher run: seq counts within it
    seq: int
    restarts: int
    exit_code: int | None = None
    signal: str | None = None
    next_delay_s: float = 0.0
    recent_ms: list[int] = field(default_factory=list)

    @classmethod
    def parse(cls, component: str, event: str, payload: bytes) -> "Notice":
        """Raise ValueError with the reason if the payload is not a notice of that component."""
        try:
            d = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise ValueError("payload is not JSON") from None
        if not isinstance(d, dict) or d.get("component") != component or d.get("event") != event:
            raise ValueError("payload and topic disagree")
        ints = {k: d.get(k) for k in ("ts", "seq", "restarts")}
        if any(isinstance(v, bool) or not isinstance(v, int) for v in ints.values()) or not isinstance(d.get("run"), str):
            raise ValueError("ts, seq and restarts must be integers and run a string")
        recent = d.get("recent_ms", [])
        if not isinstance(recent, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in recent):
            raise ValueError("recent_ms must be a list of integers")
        code, sig, delay = d.get("exit_code"), d.get("signal"), d.get("next_delay_s", 0.0)
        if (code is not None and (isinstance(code, bool) or not isinstance(code, int))) or \
                (sig is not None and not isinstance(sig, str)) or isinstance(delay, bool) or \
                not isinstance(delay, (int, float)):
            raise ValueError("exit_code, signal or next_delay_s has the wrong type")
        return cls(component, event, int(ints["ts"] or 0), d["run"][:64], int(ints["seq"] or 0),
                   int(ints["restarts"] or 0), code, sig, float(delay), recent[-50:])

    def json(self) -> dict[str, Any]:
        """The ``component.restarted`` event's data."""
        return {"component": self.component, "exit_code": self.exit_code, "signal": self.signal,
                "restarts": self.restarts, "next_delay_s": self.next_delay_s, "ts": self.ts}


def evaluate(ctx: RuleContext) -> list[Signal]:
    """One launcher notice, ``ctx.notice``."""
    notice, rules = ctx.notice, ctx.rules
    if not isinstance(notice, Notice):
        return []
    src = source(notice.component)
    is_open = (src, RULE) in ctx.open
    if notice.event == "steady":
        return [Signal(RULE, src, False, kind=KIND, detail={"component": notice.component})] if is_open else []
    rule = rules.rule(RULE)
    since = notice.ts - rule["window_s"] * 1000
    within = sum(1 for t in set(notice.recent_ms or [notice.ts]) if since <= t <= notice.ts)
    if within < rule["max_restarts"]:
        return []
    detail = {"component": notice.component, "restarts_in_window": within, "window_s": rule["window_s"],
              "restarts": notice.restarts, "exit_code": notice.exit_code, "signal": notice.signal}
    return [Signal(RULE, src, True, kind=KIND, repeat=is_open, detail=detail)]


FAMILY = RuleFamily("supervisor", evaluate=evaluate, rules=(
    Rule(RULE, "major", "the launcher restarted the same component this often: read its log. No ticket",
         settings=(
             Setting("max_restarts", 3, "restarts ...", type="integer"),
             Setting("window_s", 600.0, "... within this long (s); cleared once it runs steadily"),
         )),
))
