"""Broker dropping: Mosquitto threw messages away because a persistent session's queue was full
(``max_queued_messages`` / ``max_queued_bytes``, docs/security.md "Broker"), so some device readings or
records never reach the edge or the hub. That loss must never be silent.

The hub's priority session reads the broker's own counter, ``$SYS/broker/publish/messages/dropped``
(floorops.dynsec.SYS_DROPPED_TOPIC, every ``sys_interval``); it counts since the broker started. Each rise
raises (or repeats) the alarm; it clears once the counter has not moved for ``quiet_s``. The first value a
hub sees counts whole, as the hub cannot know whether drops from before it started were seen: a restart
may repeat an alarm, never hide one."""

from __future__ import annotations

from dataclasses import dataclass

from hub.rules.base import Rule, RuleContext, RuleFamily, Setting, Signal

RULE = "broker_dropping"
SOURCE = "broker:queues"  # ``:`` cannot occur in a device id
KIND = "broker"


@dataclass
class DropWatch:
    """What the hub last saw of the broker's counter."""

    last: int | None = None
    rose_at: float | None = None  # hub clock time of the last rise (or of the first reading)

    def observe(self, value: int, now: float) -> int:
        """New drops since the previous reading (a smaller value: the broker restarted, counting from 0)."""
        new = value if self.last is None or value < self.last else value - self.last
        if self.rose_at is None or new > 0:
            self.rose_at = now
        self.last = value
        return new


def evaluate(ctx: RuleContext) -> list[Signal]:
    """The counter as ``ctx.drop_watch`` saw it, with ``ctx.dropped_new`` drops since the last reading."""
    watch, new = ctx.drop_watch, ctx.dropped_new
    is_open = (SOURCE, RULE) in ctx.open
    if new > 0:
        return [Signal(RULE, SOURCE, True, kind=KIND, repeat=is_open,
                       detail={"dropped_total": watch.last, "dropped_new": new})]
    quiet_s = float(ctx.rules.rule(RULE)["quiet_s"])
    if is_open and watch.rose_at is not None and ctx.now - watch.rose_at >= quiet_s:
        return [Signal(RULE, SOURCE, False, kind=KIND, detail={"dropped_total": watch.last, "quiet_s": quiet_s})]
    return []


FAMILY = RuleFamily("broker", evaluate=evaluate, rules=(
    Rule(RULE, "critical", "Mosquitto dropped messages (a session's queue was full): readings were lost",
         settings=(Setting("quiet_s", 300.0, "clear once the counter has not moved for this long (s)"),)),
))
