"""Device offline: the device's own status (Last Will, or the edge's liveness for serial devices), or no
message for longer than its kind's heartbeat timeout. Any message from the device brings it back.

Silence is a symptom when the edge agent that relays the device is down: every device it reads falls
silent at once. Then the agent's own ``agent_offline`` alarm is the one alarm for the cause, and the
silence alarms are held back while an agent is offline and for ``startup_grace_s`` after it is back (it
needs that long to hear its devices again). A device's explicit offline status still counts, unless it
is the broker's retained copy (flag ``retained``), which is memory, not news. A device
whose relaying agent is known (``DeviceState.agent``, from the records batch topic) is held back only by
that agent; one whose agent is not known (records that came alone, or none since the hub started) by
any agent (right for one agent per site, as in the demo). Devices still silent after the grace raise."""

from __future__ import annotations

from typing import Container, Iterable

from floorops.kinds import DeviceKind
from floorops.topics import EdgeRecord
from hub.rules.base import Rule, RuleContext, RuleFamily, RuleSet, Setting, Signal, device_signal
from hub.state import AgentState, DeviceState


def evaluate(ctx: RuleContext) -> list[Signal]:
    """A record of any kind (``ctx.rec``); or, without one, the ticker's silence check of ``ctx.devices``."""
    if ctx.rec is not None:
        return _record(ctx.rec, ctx.open)
    return _heartbeat(ctx.devices, ctx.now, ctx.started_at, ctx.rules, ctx.agents)


def _record(rec: EdgeRecord, open_: Container[tuple[str, str]]) -> list[Signal]:
    if rec.channel == "status" and rec.data.get("state") == "offline":
        if "retained" in rec.flags:
            # The broker's retained copy, replayed when the edge (re)subscribes: after a restart of the
            # control centre it is every device's Last Will from the shutdown. It says when the device was
            # last heard of, not that it just went down; if the device stays silent the heartbeat rule
            # raises the alarm, after the start-up grace like any silence.
            return []
        return [device_signal(rec, "device_offline", True, reason="status")]
    if (rec.device_id, "device_offline") in open_:
        return [device_signal(rec, "device_offline", False)]
    return []


def agents_holding_back(agents: Iterable[AgentState], now: float, rules: RuleSet) -> list[str]:
    """Ids of the agents offline now, or back for less than ``startup_grace_s``: while there is one, the
    silence of the devices it serves says nothing about the devices."""
    grace = rules.rule("device_offline")["startup_grace_s"]
    return sorted(a.id for a in agents if a.state == "offline" or now - a.since < grace)


def _heartbeat(devices: Iterable[DeviceState], now: float, started_at: float, rules: RuleSet,
               agents: Iterable[AgentState] = ()) -> list[Signal]:
    """Devices silent for longer than their timeout; none in the first ``startup_grace_s`` after a start,
    and none while an edge agent is offline or just back (``agents_holding_back``)."""
    rule = rules.rule("device_offline")
    if now - started_at < rule["startup_grace_s"]:
        return []
    holding = set(agents_holding_back(agents, now, rules))
    out = []
    for d in devices:
        timeout = rule["timeout_s"].get(d.kind)
        if not timeout or d.last_seen is None or "device_offline" in d.faults:
            continue
        if holding and (d.agent in holding or not d.agent):
            continue
        if now - d.last_seen > timeout:
            out.append(Signal("device_offline", d.id, True, device_id=d.id, kind=d.kind, zone=d.zone,
                              detail={"reason": "heartbeat", "silent_s": round(now - d.last_seen, 1)}))
    return out


def _kind_timeout(kind: DeviceKind) -> float:
    return kind.offline_after_s


FAMILY = RuleFamily("offline", evaluate=evaluate, rules=(
    Rule("device_offline", "major", "Last Will / edge liveness, or silence longer than the kind's timeout",
         ticket=True, settings=(
             Setting("timeout_s", _kind_timeout, "per device kind, the silence (s) that counts as offline "
                     "(default: the kind's declared offline_after_s)", type="per_kind"),
             Setting("startup_grace_s", 60.0, "no silence alarms in the first this-long after the hub "
                     "starts, nor while an edge agent is offline and this long after it is back (s)"),
         )),
))
