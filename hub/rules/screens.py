"""What each queue screen should show, and when a screen that does not acknowledge raises an alarm.

A reroute is room level: a room's patients go to a room of the same group (same service) when its zone is
crowded, when its queue is much longer than the sibling's (the screens' waiting counts, so it works for
rooms sharing a zone, as a clinic's do), or when its screen fails; then the group's other screens carry
the failed room's reroute, since its own screen cannot show it.

Pure functions over plain values (hub.screens feeds them the live state and the stored commands), so that
the choice of a reroute, the debounce of guide updates and the unacknowledged-command alarm are tested
without a hub. The family is not run per record: hub.screens calls ``evaluate`` when it flushes the
commands (the ticker, a notice), with ``ctx.unacked``; a screen's ``cmd_ack`` clears its alarm
(``cleared``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from floorops.kinds import queue_screen
from hub.clock import iso
from hub.rules.base import Rule, RuleContext, RuleFamily, Setting, Signal

RULE = "screen_command_unacked"
KIND = queue_screen.KIND.name


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
    reported: bool = True  # its screen reported the queue (else ``waiting`` is no count to compare with)

    @property
    def available(self) -> bool:
        return not self.crowded and self.screen_ok


@dataclass(frozen=True)
class Display:
    """What one screen should show: a guide to its own room or a reroute to another one."""

    type: str  # guide | reroute
    room: Room  # where the patient goes
    reason: str = ""  # reroutes: crowded | screen
    source: Room | None = None  # reroutes of another room's patients (its screen failed); None: the screen's own

    def texts(self, own: Room) -> tuple[str, str]:
        r, minutes = self.room, round(self.room.expected_wait_s / 60)
        if self.type == "reroute":
            src = self.source or own
            why_en = "is crowded" if self.reason == "crowded" else "is not calling"
            why_zh = "人多拥挤" if self.reason == "crowded" else "暂停叫号"
            return (f"{src.name} {why_en}: please go to {r.name}, floor {r.floor} ({r.waiting} waiting, "
                    f"about {minutes} min)",
                    f"{src.name_zh or src.name}{why_zh},请前往{r.name_zh or r.name}({r.floor}楼,候诊{r.waiting}人,"
                    f"约{minutes}分钟)")
        return (f"{r.name}, floor {r.floor}: {r.waiting} waiting, about {minutes} min",
                f"{r.name_zh or r.name}({r.floor}楼):候诊{r.waiting}人,预计等待约{minutes}分钟")

    def key(self) -> tuple[Any, ...]:
        """What, when it changes, is worth a new command (minutes, not seconds, of expected wait)."""
        base = (self.type, self.room.queue, self.room.waiting, round(self.room.expected_wait_s / 60))
        return base + ((self.source.queue,) if self.source is not None else ())


REROUTE_RATIO = 2.0
REROUTE_EXTRA = 10


@dataclass(frozen=True)
class Crowding:
    """When a room's queue is "much longer" than a sibling's: ``ratio`` times its waiting and at least
    ``extra`` people more (both, so that 2 against 1 is not a crowd and 60 against 50 is not worth a walk)."""

    ratio: float = REROUTE_RATIO
    extra: int = REROUTE_EXTRA

    def longer(self, own: Room, other: Room) -> bool:
        return (own.reported and other.reported and own.waiting >= other.waiting + self.extra
                and own.waiting >= self.ratio * other.waiting)


def _pick(rooms: list[Room]) -> Room | None:
    """Shortest expected wait first, then fewest waiting, then queue id (so the choice is stable)."""
    return min(rooms, key=lambda r: (r.expected_wait_s, r.waiting, r.queue), default=None)


def _siblings(own: Room, rooms: list[Room]) -> list[Room]:
    return [r for r in rooms if own.group and r.group == own.group and r.queue != own.queue]


def _can_take(frm: Room, r: Room) -> bool:
    """``r`` may take ``frm``'s patients: its screen calls, and its zone is not crowded, unless it is
    ``frm``'s own zone (then the zone's crowd is no reason to prefer either room)."""
    return r.screen_ok and (not r.crowded or r.zone == frm.zone)


def alternative(own: Room, rooms: list[Room], crowding: Crowding = Crowding()) -> Room | None:
    """The room of ``own``'s group (same kind of service) to send its patients to: one whose screen calls
    and that is in an uncrowded zone (when ``own``'s zone is crowded or its screen failed) or whose queue
    ``own``'s is much longer than (room level: the rooms of a clinic share its zone); shortest wait first."""
    out = []
    for r in _siblings(own, rooms):
        if not _can_take(own, r):
            continue
        if not own.screen_ok or (own.crowded and not r.crowded) or crowding.longer(own, r):
            out.append(r)
    return _pick(out)


def display(own: Room, rooms: list[Room], crowding: Crowding = Crowding()) -> Display:
    """A reroute when ``own``'s zone is crowded, its queue is much longer than a sibling room's or its
    screen failed, and another room of its group can take the patients; else, when a sibling room's screen
    failed, a reroute of that room's patients (this screen is where they look now: 「内科1暂停叫号,请前往内科2」);
    otherwise a guide to ``own`` itself."""
    alt = alternative(own, rooms, crowding)
    if alt is not None:
        return Display("reroute", alt, "screen" if not own.screen_ok else "crowded")
    if own.screen_ok:
        for failed in sorted((r for r in _siblings(own, rooms) if not r.screen_ok), key=lambda r: r.queue):
            to = _pick([r for r in [own, *_siblings(own, rooms)] if r.queue != failed.queue and _can_take(failed, r)])
            if to is not None:
                return Display("reroute", to, "screen", source=failed)
    return Display("guide", own)


def due(new: Display, last_key: tuple[Any, ...] | None, last_sent_at: float | None, now: float,
        guide_every_s: float) -> bool:
    """Send ``new``? Not when it says what was last sent; a change of type or room goes at once; a guide
    whose numbers changed waits until ``guide_every_s`` after the last command (debounce)."""
    key = new.key()
    if key == last_key:
        return False
    if last_key is None or last_sent_at is None or key[:2] != last_key[:2] or key[4:] != last_key[4:]:
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
             Setting("reroute_ratio", REROUTE_RATIO, "a room's queue is much longer than a sibling room's (its patients "
                     "are sent there) at this many times its waiting count..."),
             Setting("reroute_extra", REROUTE_EXTRA, "...and at least this many people more", type="integer", minimum=0),
             Setting("guide_every_s", 30.0, "a screen's guide is updated at most this often (s); reroutes and "
                     "notices go at once"),
             Setting("expires_s", 600.0, "a guide or reroute is shown at most this long (s) without a newer one",
                     minimum=1),
         )),
))
