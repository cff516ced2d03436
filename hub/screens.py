"""The downlink to queue screens: what each screen is told to show, stored, sent, acknowledged.

Every queue screen has two slots: the guide (its room, floor, number waiting, expected wait; or a reroute
to another room of the same group when its room is crowded or its screen failed, or when a sibling room's
screen failed: hub.rules.screens) and
an operator's notice. A command is stored in ``screen_commands`` first (``pending``) in the caller's
transaction, then put on the wire by ``flush`` after the commit, only to a screen that is reachable: a
command for an offline screen waits until the screen is back, or until it expires. When a screen comes
back online the newest unexpired command of each slot is sent again (a screen's session is not
persistent; it may have missed it). The screen answers with a ``cmd_ack`` event through the edge; a
command sent and not acknowledged within the rule's timeout raises ``screen_command_unacked`` once,
cleared by the screen's next acknowledgement. A command still unacknowledged after the timeout is sent
again (same id), at most ``resend_max`` times, ``ack_timeout_s`` apart.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable

from floorops.topics import command_topic
from floorops.downlink import ScreenCommand, clip, new_command_id
from floorops.kinds import queue_screen
from floorops.site import Site
from hub.alarms import AlarmManager
from hub.clock import Clock, iso
from hub.db import Database
from hub.events import EventBus
from hub.rules.base import RuleContext, RuleSet
from hub.rules import screens as rule
from hub.state import LiveState

log = logging.getLogger("hub.screens")

KIND = queue_screen.KIND.name
NOTICE_MAX_S = 7 * 86400
KEEP_S = 7 * 86400  # finished commands kept this long (housekeeping)
# (topic, payload) -> True once the MQTT client took it (hub.ingest.MqttIngest.publish)
Publisher = Callable[[str, bytes], bool]


def slot(type_: str) -> str:
    return "notice" if type_ == "notice" else "guide"


class ScreenCommands:
    def __init__(self, db: Database, bus: EventBus, clock: Clock, rules: RuleSet, site: Site, alarms: AlarmManager,
                 state: Callable[[], LiveState]) -> None:
        self.db, self.bus, self.clock, self.rules, self.site, self.alarms = db, bus, clock, rules, site, alarms
        self._state = state  # the hub's live state (rebuilt after a rolled-back batch)
        self.publisher: Publisher | None = None
        self.sent_total = 0
        self.ack_total = 0

    @property
    def settings(self) -> dict[str, Any]:
        return self.rules.rule(rule.RULE)

    def screens(self) -> list[Any]:
        """The site's queue screens with a queue (the ones that guide patients)."""
        return [d for d in self.site.devices if d.kind == KIND and d.queue]

    # -- what the screens should show -------------------------------------------------------------------

    def rooms(self) -> dict[str, rule.Room]:
        st = self._state()
        screen_of = {d.queue: d.id for d in self.screens()}
        out = {}
        for q in self.site.queues:
            z = self.site.zone(q.zone)
            qs = st.queues.get(q.id)
            waiting = qs.waiting if qs else 0
            wait_s = qs.avg_wait_s if qs and qs.avg_wait_s else waiting * q.service_min * 60 / max(1, q.counters)
            dev = st.devices.get(screen_of.get(q.id, ""))
            screen_ok = dev is not None and not ({"device_offline", "display_fault"} & dev.faults)
            out[q.id] = rule.Room(q.id, q.zone, q.name, q.name_zh, z.floor, q.group, int(waiting), int(wait_s),
                                  (q.zone, "zone_crowded") in self.alarms.open, screen_ok,
                                  qs is not None and qs.at is not None)
        return out

    def reachable(self, device_id: str) -> bool:
        dev = self._state().devices.get(device_id)
        return dev is not None and "device_offline" not in dev.faults and dev.readings.get("status") != "offline"

    def plan(self) -> int:
        """Store a new guide/reroute for every screen whose display changed (debounced); returns how many.
        Runs in the caller's transaction (the hub's tick)."""
        if not self.settings["enabled"]:
            return 0
        now = self.clock.now()
        rooms = self.rooms()
        all_rooms = list(rooms.values())
        crowding = rule.Crowding(float(self.settings["reroute_ratio"]), int(self.settings["reroute_extra"]))
        made = 0
        for d in self.screens():
            own = rooms.get(d.queue)
            if own is None:
                continue
            want = rule.display(own, all_rooms, crowding)
            last = self._last(d.id, "guide")
            last_key = tuple(json.loads(last["payload"]).get("key", [])) if last else None
            if rule.due(want, last_key or None, last["created_at"] if last else None, now,
                        float(self.settings["guide_every_s"])):
                text_en, text_zh = want.texts(own)
                self._store(d.id, want.type, text_en, text_zh, want.room, now + float(self.settings["expires_s"]),
                            "", key=list(want.key()))
                made += 1
        return made

    def notice(self, devices: list[str], text_en: str, text_zh: str, expires_s: float, actor: str) -> list[str]:
        """An operator's notice to ``devices`` (queue screens); returns the command ids. Caller's transaction."""
        now = self.clock.now()
        return [self._store(d, "notice", clip(text_en), clip(text_zh), None, now + expires_s, actor) for d in devices]

    def _store(self, device_id: str, type_: str, text_en: str, text_zh: str, room: rule.Room | None,
               expires_at: float, actor: str, key: list[Any] | None = None) -> str:
        now = self.clock.now()
        cmd = ScreenCommand(id=new_command_id(), ts=int(now * 1000), type=type_, text=text_en, text_zh=text_zh,
                            room=(room.name_zh or room.name) if room else "", floor=room.floor if room else 0,
                            waiting=room.waiting if room else 0, expected_wait_s=room.expected_wait_s if room else 0,
                            expires_at=int(expires_at * 1000))
        cmd.to_json()  # size check before it is stored
        stored = {"command": json.loads(cmd.to_json()), "key": key or []}
        # A newer command of the same slot replaces what the screen has not acknowledged yet.
        self.db.execute("UPDATE screen_commands SET state='superseded' WHERE device_id=? AND type IN (%s) "
                        "AND state IN ('pending','sent')" % ("'notice'" if type_ == "notice" else "'guide','reroute'"),
                        (device_id,))
        self.db.execute("INSERT INTO screen_commands(id, device_id, type, payload, state, created_at, expires_at, actor) "
                        "VALUES (?,?,?,?,?,?,?,?)",
                        (cmd.id, device_id, type_, json.dumps(stored, ensure_ascii=False), "pending", now, expires_at,
                         actor))
        return cmd.id

    def _last(self, device_id: str, slot_name: str) -> Any:
        types = ("notice",) if slot_name == "notice" else ("guide", "reroute")
        return self.db.one("SELECT * FROM screen_commands WHERE device_id=? AND type IN (%s) "
                           "ORDER BY created_at DESC, rowid DESC LIMIT 1" % ",".join("?" * len(types)),
                           (device_id, *types))

    # -- the wire -------------------------------------------------------------------------------------

    def flush(self) -> int:
        """Send the pending commands of reachable screens, expire old ones, raise/clear the unacked alarm.
        Own transaction; called after the hub's tick committed. Returns the number sent."""
        now = self.clock.now()
        sent = 0
        self.db.execute("UPDATE screen_commands SET state='expired' WHERE state IN ('pending','sent') AND expires_at <= ?",
                        (now,))
        for row in self.db.all("SELECT * FROM screen_commands WHERE state='pending' ORDER BY created_at, rowid"):
            if self.publisher is None or not self.reachable(row["device_id"]):
                continue  # kept until the screen is back, or it expires
            if not self._publish(row):
                break  # the broker connection is down: everything waits for the next flush
            self.db.execute("UPDATE screen_commands SET state='sent', sent_at=? WHERE id=?", (now, row["id"]))
            sent += 1
        sent += self._resend(now)
        self.sent_total += sent
        unacked = [rule.Unacked(r["device_id"], self._zone(r["device_id"]), r["n"], r["sent_at"]) for r in self.db.all(
            "SELECT device_id, MIN(sent_at) AS sent_at, COUNT(*) AS n FROM screen_commands WHERE state='sent' "
            "GROUP BY device_id")]
        for sig in rule.evaluate(RuleContext(rules=self.rules, now=now, open=self.alarms.open, site=self.site,
                                             unacked=unacked)):
            self.alarms.apply(sig)
            log.warning("screen did not acknowledge a command", extra={"device_id": sig.device_id,
                                                                       "unacked": sig.detail["unacked"]})
        return sent

    def _publish(self, row: Any) -> bool:
        """Put a stored command on the wire; False when the broker connection is down."""
        assert self.publisher is not None
        payload = json.dumps(json.loads(row["payload"])["command"], ensure_ascii=False, separators=(",", ":"))
        return self.publisher(command_topic(self.site.id, KIND, row["device_id"]), payload.encode())

    def _resend(self, now: float) -> int:
        """Send again, up to ``resend_max`` times, ``ack_timeout_s`` apart, a command sent and not
        acknowledged: a screen restarted or upgraded without going offline in the hub's eyes lost it, and
        ``back_online`` never runs for it. Same command id, so a screen that did show it just acknowledges
        again. ``sent_at`` stays the first send's (the unacked alarm counts from it); the count and time of
        the last resend live in the stored payload. Returns how many were sent."""
        settings = self.settings
        if self.publisher is None or not settings["enabled"]:
            return 0
        timeout, most = float(settings["ack_timeout_s"]), int(settings["resend_max"])
        done = 0
        for row in self.db.all("SELECT * FROM screen_commands WHERE state='sent' ORDER BY sent_at, rowid"):
            stored = json.loads(row["payload"])
            resends = int(stored.get("resends", 0))
            if resends >= most or now - float(stored.get("last_sent_at", row["sent_at"])) < timeout:
                continue
            if not self.reachable(row["device_id"]):
                continue
            if not self._publish(row):
                break
            stored.update(resends=resends + 1, last_sent_at=now)
            self.db.execute("UPDATE screen_commands SET payload=? WHERE id=?",
                            (json.dumps(stored, ensure_ascii=False), row["id"]))
            log.info("screen command sent again", extra={"device_id": row["device_id"], "command": row["id"],
                                                          "resends": resends + 1})
            done += 1
        return done

    def acked(self, device_id: str, command_id: str) -> bool:
        """The screen shows ``command_id`` (its ``cmd_ack`` event); clears the screen's unacked alarm."""
        cur = self.db.execute("UPDATE screen_commands SET state='acked', acked_at=? WHERE id=? AND device_id=? "
                              "AND state IN ('sent','pending','superseded')", (self.clock.now(), command_id, device_id))
        if cur.rowcount:
            self.ack_total += 1
            # An older command never acknowledged is moot: the screen shows this newer one.
            self.db.execute("UPDATE screen_commands SET state='superseded' WHERE device_id=? AND state='sent' "
                            "AND created_at <= (SELECT created_at FROM screen_commands WHERE id=?)",
                            (device_id, command_id))
        for sig in rule.cleared(device_id, self.alarms.open):
            self.alarms.apply(sig)
        return bool(cur.rowcount)

    def _zone(self, device_id: str) -> str:
        """The screen's zone in the site file ('' for a screen the site does not list)."""
        return next((d.zone for d in self.site.devices if d.id == device_id), "")

    def back_online(self, device_id: str) -> None:
        """The screen reconnected: send its newest unexpired guide and notice again."""
        now = self.clock.now()
        for slot_name in ("guide", "notice"):
            last = self._last(device_id, slot_name)
            if last is not None and last["expires_at"] > now and last["state"] in ("sent", "acked"):
                self.db.execute("UPDATE screen_commands SET state='pending' WHERE id=?", (last["id"],))

    def prune(self) -> None:
        """Forget commands finished a week ago (a guide every 30 s per screen adds up); the newest of each
        screen's slots stays whatever its age, since ``shown`` reads it."""
        self.db.execute("DELETE FROM screen_commands WHERE created_at < ? AND state IN ('acked','superseded','expired') "
                        "AND id NOT IN (SELECT id FROM screen_commands s WHERE created_at = (SELECT MAX(created_at) "
                        "FROM screen_commands t WHERE t.device_id = s.device_id AND (t.type = 'notice') = (s.type = 'notice')))",
                        (self.clock.now() - KEEP_S,))

    # -- views ------------------------------------------------------------------------------------------

    def shown(self, device_id: str) -> dict[str, Any]:
        """What the hub last told the screen in each slot, with whether the screen acknowledged it."""
        out: dict[str, Any] = {"device_id": device_id}
        for slot_name in ("guide", "notice"):
            r = self._last(device_id, slot_name)
            out[slot_name] = None if r is None else {
                **json.loads(r["payload"])["command"], "state": r["state"], "actor": r["actor"],
                "sent_at": iso(r["sent_at"], self.site.tz), "acked_at": iso(r["acked_at"], self.site.tz)}
        return out
