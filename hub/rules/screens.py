"""What each queue screen should show, and when a screen that does not acknowledge raises an alarm.

Pure functions over plain values (hub.screens feeds them the live state and the stored commands), so that
the choice of a reroute, the debounce of guide updates and the unacknowledged-command alarm are tested
without a hub. The family is not run per record: hub.screens calls ``evaluate`` when it flushes the
commands (the ticker, a notice), with ``ctx.unacked``; a screen's ``cmd_ack`` clears its alarm
(``cleared``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.clock import iso
from hub.rules.base import Rule, RuleContext, RuleFamily, Setting, Signal

RULE = "screen_command_unacked"
KIND = "queue_screen"


@dataclass(frozen=True)
class Unacked:
    """One screen's commands sent and not acknowledged yet (rows of ``screen_commands``)."""

    device_id: str
    zone: str
    count: int
    sent_at: float  # hub clock time the oldest of them was sent


@dataclass(frozen=True)
class Room:
    """One queue's room as the screens describe it. ``available``: it may take patients sent from
    elsewhere (its zone is not crowded and its own screen works)."""

    queue: str
    zone: str
    name: str
    name_zh: str
    floor: int
    group: str
    waiting: int
    expected_wait_s: int
    crowded: bool
    screen_ok: bool

    @property
    def available(self) -> bool:
        return not self.crowded and self.screen_ok


@dataclass(frozen=True)
class Display:
    """What one screen should show: a guide to its own room or a reroute to another one."""

    type: str  # guide | reroute
    room: Room  # where the patient goes
    reason: str = ""  # reroutes: crowded | screen

    def texts(self, own: Room) -> tuple[str, str]:
        r, minutes = self.room, round(self.room.expected_wait_s / 60)
        if self.type == "reroute":
            why_en = "is crowded" if self.reason == "crowded" else "is not calling"
            why_zh = "人多拥挤" if self.reason == "crowded" else "暂停叫号"
            return (f"{own.name} {why_en}: please go to {r.name}, floor {r.floor} ({r.waiting} waiting, "
                    f"about {minutes} min)",
                    f"{own.name_zh or own.name}{why_zh},请前往{r.name_zh or r.name}({r.floor}楼,候诊{r.waiting}人,"
                    f"约{minutes}分钟)")
        return (f"{r.name}, floor {r.floor}: {r.waiting} waiting, about {minutes} min",
                f"{r.name_zh or r.name}({r.floor}楼):候诊{r.waiting}人,预计等待约{minutes}分钟")

    def key(self) -> tuple[Any, ...]:
        """What, when it changes, is worth a new command (minutes, not seconds, of expected wait)."""
        return (self.type, self.room.queue, self.room.waiting, round(self.room.expected_wait_s / 60))


def alternative(own: Room, rooms: list[Room]) -> Room | None:
    """The room of ``own``'s group (same kind of service) to send its patients to: available, shortest
    expected wait first, then fewest waiting, then queue id (so the choice is stable)."""
    candidates = [r for r in rooms if own.group and r.group == own.group and r.queue != own.queue and r.available]
    return min(candidates, key=lambda r: (r.expected_wait_s, r.waiting, r.queue), default=None)


def display(own: Room, rooms: list[Room]) -> Display:
    """A reroute when ``own``'s zone is crowded or its screen failed and another room of its group can
    take the patients; otherwise a guide to ``own`` itself."""
    if not own.available:
        alt = alternative(own, rooms)
        if alt is not None:
            return Display("reroute", alt, "crowded" if own.crowded else "screen")
    return Display("guide", own)


def due(new: Display, last_key: tuple[Any, ...] | None, last_sent_at: float | None, now: float,
        guide_every_s: float) -> bool:
    """Send ``new``? Not when it says what was last sent; a change of type or room goes at once; a guide
    whose numbers changed waits until ``guide_every_s`` after the last command (debounce)."""
    key = new.key()
    if key == last_key:
        return False
    if last_key is None or last_sent_at is None or key[:2] != last_key[:2]:
        return True
    return now - last_sent_at >= guide_every_s


def overdue(sent_at: float, now: float, settings: dict[str, Any]) -> bool:
    """A sent command unacknowledged for longer than the rule's ack timeout."""
    return bool(settings["enabled"]) and now - sent_at >= float(settings["ack_timeout_s"])


def evaluate(ctx: RuleContext) -> list[Signal]:
    """Raise, once per screen (not again while its alarm is open, however many commands stay unanswered),
    for each screen of ``ctx.unacked`` whose oldest unanswered command is overdue; ``ctx.site`` gives the
    time zone of the alarm's detail."""
    settings = ctx.rules.rule(RULE)
    tz = ctx.site.tz if ctx.site is not None else None
    return [Signal(RULE, u.device_id, True, device_id=u.device_id, kind=KIND, zone=u.zone,
                   detail={"unacked": u.count, "sent_at": iso(u.sent_at, tz)})
            for u in ctx.unacked
            if (u.device_id, RULE) not in ctx.open and overdue(u.sent_at, ctx.now, settings)]


def cleared(device_id: str, open_: Any) -> list[Signal]:
    """The screen acknowledged a command: it listens again, so its alarm (if open) clears."""
    return [Signal(RULE, device_id, False, device_id=device_id, kind=KIND)] if (device_id, RULE) in open_ else []


FAMILY = RuleFamily("screens", evaluate=evaluate, rules=(
    Rule(RULE, "minor", "a queue screen did not acknowledge a command (hub/screens.py); one alarm per screen",
         settings=(
             Setting("ack_timeout_s", 30.0, "a sent command may wait this long (s) for the screen's cmd_ack"),
             Setting("resend_max", 3, "a command not acknowledged within ack_timeout_s is sent again, at most "
                     "this many times, ack_timeout_s apart (0: never)", type="integer", minimum=0),
             Setting("guide_every_s", 30.0, "a screen's guide is updated at most this often (s); reroutes and "
                     "notices go at once"),
             Setting("expires_s", 600.0, "a guide or reroute is shown at most this long (s) without a newer one",
                     minimum=1),
         )),
))
