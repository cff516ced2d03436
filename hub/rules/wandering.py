"""Back-and-forth wandering above its usual level: patients lost near a place (the CT corridor, unclear
signs), measured at the edge as A -> B -> A detours (edge/processors/flows.py, hub.flows).

Evaluated when a flow interval comes in, per zone, over the last ``window_s`` (2 hours: the edge holds
counts under k back, so a quiet zone's detours come in steps of at least 5): raised when the share of the
zone's visitors who walked back and forth is at least ``raise_factor`` times its usual level (its rate
over the previous 7 days, at least ``usual_floor``, since held-back counts make a quiet zone read 0) and
at least ``min_rate``, among at least ``min_visitors`` visitors (followed phones); cleared when it falls
to ``clear_factor`` times the usual level or below. The alarm offers a guide to the zone (dispatch):
"send a guide to the CT corridor"."""

from __future__ import annotations

from typing import Any

from hub.rules.base import Rule, RuleContext, RuleFamily, Setting, Signal


def evaluate(ctx: RuleContext) -> list[Signal]:
    """``ctx.wandering``: zone -> {rate, visitors, back_and_forth, extra_walk_s, usual (None: no history)}
    over the rule's window; ``ctx.site`` names the zones."""
    rule = ctx.rules.rule("wandering_high")
    out = []
    for zone, w in sorted(ctx.wandering.items()):
        visitors, rate = int(w.get("visitors") or 0), w.get("rate")
        if rate is None or visitors < rule["min_visitors"]:
            continue
        # Counts under k are held back at the edge, so a quiet zone's measured usual level reads 0: a floor.
        usual = max(float(w.get("usual") or 0.0), rule["usual_floor"])
        name = zone
        if ctx.site is not None:
            z = next((z for z in ctx.site.zones if z.id == zone), None)
            name = z.name if z is not None else zone
        detail: dict[str, Any] = {
            "rate": round(float(rate), 4), "usual": round(usual, 4), "visitors": visitors,
            "back_and_forth": int(w.get("back_and_forth") or 0), "extra_walk_s": w.get("extra_walk_s"),
            "suggestion": f"send a guide to {name}"}
        base: dict[str, Any] = dict(source=zone, zone=zone, kind="zone", detail=detail)
        if rate >= max(rule["min_rate"], usual * rule["raise_factor"]):
            out.append(Signal("wandering_high", active=True, **base))
        elif rate <= usual * rule["clear_factor"]:
            out.append(Signal("wandering_high", active=False, **base))
    return out


def _hysteresis(rule: dict[str, Any]) -> str | None:
    if rule["clear_factor"] > rule["raise_factor"]:
        return "clear_factor must not exceed raise_factor (hysteresis)"
    return None


FAMILY = RuleFamily("wandering", evaluate=evaluate, rules=(
    Rule("wandering_high", "minor", "patients walking back and forth in a zone, above its usual level",
         dispatch=True, check=_hysteresis, settings=(
             Setting("window_s", 7200.0, "the recent window the rate is measured over (s)", minimum=300),
             Setting("raise_factor", 1.5, "raise at this multiple of the zone's usual rate ..."),
             Setting("min_rate", 0.10, "... and at least this share of its visitors ..."),
             Setting("min_visitors", 10, "... among at least this many visitors (followed phones)", type="integer"),
             Setting("clear_factor", 1.2, "clear at this multiple of the usual rate or below (hysteresis)"),
             Setting("usual_floor", 0.05, "the usual rate is taken as at least this (none measured, or under k)"),
         )),
))
