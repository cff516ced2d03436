"""Edge agent offline: the agent's retained status says ``offline`` (its Last Will, or a clean stop) for
longer than ``grace_s``. Without its agent a site is blind (every reading, probe and charger poll goes
through it), so this is one alarm for the agent rather than a wait for each device's silence.

A restart that comes back within ``grace_s`` raises nothing; ``online`` clears at once."""

from __future__ import annotations

from hub.rules.base import Rule, RuleContext, RuleFamily, Setting, Signal

RULE = "agent_offline"
KIND = "edge_agent"  # the alarm's kind: not a device kind


def source(agent_id: str) -> str:
    """The alarm source of an agent; ``:`` cannot occur in a device id, so it never names a device."""
    return f"agent:{agent_id}"


def evaluate(ctx: RuleContext) -> list[Signal]:
    """One agent, ``ctx.agent`` (on its status, and on every tick for the grace)."""
    agent, now, rules = ctx.agent, ctx.now, ctx.rules
    if agent is None:
        return []
    src = source(agent.id)
    is_open = (src, RULE) in ctx.open
    if agent.state == "online":
        return [Signal(RULE, src, False, kind=KIND, detail={"agent_id": agent.id})] if is_open else []
    offline_s = now - agent.since
    if is_open or offline_s < rules.rule(RULE)["grace_s"]:
        return []
    return [Signal(RULE, src, True, kind=KIND, detail={"agent_id": agent.id, "offline_s": round(offline_s, 1)})]


FAMILY = RuleFamily("agents", evaluate=evaluate, rules=(
    Rule(RULE, "critical", "the agent's retained status is offline (Last Will or a clean stop): the site is "
         "blind. No ticket: no device to repair", settings=(
             Setting("grace_s", 30.0, "a restart that is back within this long raises nothing (s)"),
         )),
))
