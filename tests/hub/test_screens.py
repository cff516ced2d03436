"""The downlink to queue screens (hub.screens, hub.rules.screens) on a ManualClock: which room a crowded
room's screen sends patients to, debounced guide updates, acknowledgements, expiry, offline screens and
the ``screen_command_unacked`` alarm. The MQTT client is replaced by a recorder (the broker side is
tested in tests/security/test_screen_commands_broker.py and tests/test_screens_live.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from floorops.config import Config
from floorops.downlink import parse_command
from floorops.site import parse_site
from hub.clock import ManualClock
from hub.rules import screens as rule
from tests.hub.helpers import Feeder, make_hub, open_alarms, queue_reading

SITE = {
    "site": {"id": "dl", "name": "Downlink", "timezone": "Asia/Shanghai"},
    "zones": [
        {"id": "us_a", "name": "Ultrasound A", "kind": "imaging", "capacity": 10, "floor": 2},
        {"id": "us_b", "name": "Ultrasound B", "kind": "imaging", "capacity": 10, "floor": 3},
        {"id": "us_c", "name": "Ultrasound C", "kind": "imaging", "capacity": 10, "floor": 4},
    ],
    "queues": [
        {"id": "US-1", "zone": "us_a", "name": "Ultrasound 1", "name_zh": "1号B超室", "group": "ultrasound"},
        {"id": "US-2", "zone": "us_b", "name": "Ultrasound 2", "name_zh": "2号B超室", "group": "ultrasound"},
        {"id": "US-3", "zone": "us_c", "name": "Ultrasound 3", "name_zh": "3号B超室", "group": "ultrasound"},
    ],
    "devices": [{"id": f"qs-us-{i}", "kind": "queue_screen", "zone": z, "queue": f"US-{i}"}
                for i, z in ((1, "us_a"), (2, "us_b"), (3, "us_c"))],
}


class Wire:
    """What the hub put on the wire (topic, command), and whether the broker connection is up."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.up = True

    def __call__(self, topic: str, payload: bytes) -> bool:
        if self.up:
            self.sent.append((topic, parse_command(payload)))
        return self.up

    def to(self, device_id: str) -> list[Any]:
        return [c for t, c in self.sent if t == f"hospital/dl/queue_screen/{device_id}/cmd"]


@pytest.fixture
def setup(offline_cfg: Config, clock: ManualClock):
    hub = make_hub(offline_cfg, clock, parse_site(json.loads(json.dumps(SITE))))
    hub.set_rules({"rules": {"zone_crowded": {"min_duration_s": 0.0},
                             "screen_command_unacked": {"ack_timeout_s": 30.0, "guide_every_s": 60.0}}}, "test")
    wire = Wire()
    hub.screens.publisher = wire
    feed = Feeder(hub)
    for i in (1, 2, 3):
        feed.record(f"qs-us-{i}", "status", {"state": "online"})
    yield hub, clock, wire, feed
    hub.db.close()


def waits(feed: Feeder, **by_queue: tuple[int, float]) -> None:
    for q, (waiting, avg) in by_queue.items():
        feed.record(f"qs-us-{q[-1]}", "telemetry", queue_reading(q.replace("_", "-"), waiting, avg))


def ack_all(feed: Feeder, wire: Wire, device_id: str) -> None:
    for c in wire.to(device_id):
        feed.record(device_id, "event", {"event": "cmd_ack", "cmd": c.id})


def test_a_crowded_room_sends_its_patients_to_the_free_room_with_the_shortest_wait(setup) -> None:
    hub, clock, wire, feed = setup
    waits(feed, US_1=(16, 1800.0), US_2=(12, 900.0), US_3=(8, 300.0))
    hub.tick()
    first = wire.to("qs-us-1")[-1]
    assert first.type == "guide" and first.room == "1号B超室" and first.waiting == 16 and first.floor == 2
    feed.occupancy("us_a", 10.0)  # at capacity: zone_crowded (min_duration 0)
    clock.advance(1)
    hub.tick()
    assert open_alarms(hub, "zone_crowded")
    reroute = wire.to("qs-us-1")[-1]
    assert reroute.type == "reroute"
    assert "请前往3号B超室" in reroute.text_zh and reroute.floor == 4 and reroute.waiting == 8
    assert "Ultrasound 3" in reroute.text
    # US-3's screen fails: it takes no patients, so US-1's patients go to US-2 instead.
    feed.record("qs-us-3", "event", {"event": "display_fault", "code": "panel"})
    clock.advance(1)
    hub.tick()
    assert "请前往2号B超室" in wire.to("qs-us-1")[-1].text_zh
    # US-3's own screen is told to send its patients on too (kept for it while it cannot show it).
    assert hub.screens.shown("qs-us-3")["guide"]["type"] == "reroute"
    # The crowd goes: US-1's screen now carries the failed US-3's reroute (US-3's patients look there).
    feed.occupancy("us_a", 2.0)
    clock.advance(1)
    hub.tick()
    carried = wire.to("qs-us-1")[-1]
    assert carried.type == "reroute" and carried.text_zh.startswith("3号B超室暂停叫号,请前往2号B超室")
    # US-3's screen is repaired: back to guiding to its own room, at once (a change of type is not debounced).
    feed.record("qs-us-3", "event", {"event": "display_recovered"})
    clock.advance(1)
    hub.tick()
    assert wire.to("qs-us-1")[-1].type == "guide"


CLINIC = {
    "site": {"id": "dl", "name": "Downlink", "timezone": "Asia/Shanghai"},
    "zones": [{"id": "im", "name": "Internal medicine", "kind": "clinic", "capacity": 60, "floor": 2}],
    "queues": [{"id": f"IM-{i}", "zone": "im", "name": f"Internal medicine {i}", "name_zh": f"内科{i}",
                "group": "internal_medicine"} for i in (1, 2, 3)],
    "devices": [{"id": f"qs-im-{i}", "kind": "queue_screen", "zone": "im", "queue": f"IM-{i}"} for i in (1, 2, 3)],
}


def test_rooms_sharing_a_zone_reroute_on_their_own_queues_and_a_failed_screen(offline_cfg: Config,
                                                                               clock: ManualClock) -> None:
    """The demo site's clinics: every room of a group in one zone, so the zone's crowd says nothing about
    which room is worse. A queue much longer than a sibling's sends its patients there; a room whose screen
    fails has its reroute shown on the sibling rooms' screens, where its patients can see it."""
    hub = make_hub(offline_cfg, clock, parse_site(json.loads(json.dumps(CLINIC))))
    try:
        wire = Wire()
        hub.screens.publisher = wire
        feed = Feeder(hub)
        for i in (1, 2, 3):
            feed.record(f"qs-im-{i}", "status", {"state": "online"})

        def to(device: str) -> Any:
            return [c for t, c in wire.sent if t == f"hospital/dl/queue_screen/{device}/cmd"][-1]

        def report(**waiting: int) -> None:
            for q, n in waiting.items():
                feed.record(f"qs-im-{q[-1]}", "telemetry", queue_reading(q.replace("_", "-"), n, n * 120.0))
            clock.advance(1)
            hub.tick()

        report(IM_1=14, IM_2=9, IM_3=6)  # 14 against 6: longer, but not twice and 10 more
        assert [to(f"qs-im-{i}").type for i in (1, 2, 3)] == ["guide"] * 3
        report(IM_1=26)  # now much longer than IM-3's (and IM-2's: 26 >= 2 x 9 and 17 more)
        first = to("qs-im-1")
        assert first.type == "reroute" and first.text_zh.startswith("内科1人多拥挤,请前往内科3")
        assert first.waiting == 6 and to("qs-im-3").type == "guide"
        report(IM_1=12)
        assert to("qs-im-1").type == "guide"
        # IM-2's screen fails: IM-1's and IM-3's screens tell IM-2's patients where to go.
        feed.record("qs-im-2", "event", {"event": "display_fault", "code": "panel"})
        report(IM_3=6)
        for d in ("qs-im-1", "qs-im-3"):
            assert to(d).type == "reroute" and to(d).text_zh.startswith("内科2暂停叫号,请前往内科3"), to(d)
            assert "Internal medicine 2 is not calling: please go to Internal medicine 3" in to(d).text
        feed.record("qs-im-2", "event", {"event": "display_recovered"})
        report(IM_3=6)
        assert [to(f"qs-im-{i}").type for i in (1, 2, 3)] == ["guide"] * 3
    finally:
        hub.db.close()


def test_the_readme_reroute_on_the_demo_site(offline_cfg: Config, clock: ManualClock) -> None:
    """README, "A re-route on a calling screen": ``inject qs-im-1 display_fault`` on the demo site, and the
    screens of internal medicine 2 and 3 send room 1's patients on."""
    hub = make_hub(offline_cfg, clock)
    try:
        hub.screens.publisher = Wire()
        feed = Feeder(hub)
        for d in ("qs-im-1", "qs-im-2", "qs-im-3"):
            feed.record(d, "status", {"state": "online"})
        feed.record("qs-im-1", "event", {"event": "display_fault", "code": "panel"})
        clock.advance(1)
        hub.tick()
        for d in ("qs-im-2", "qs-im-3"):
            guide = hub.screens.shown(d)["guide"]
            assert guide["type"] == "reroute" and guide["text_zh"].startswith("内科1暂停叫号,请前往内科"), guide
            assert guide["text"].startswith("Internal medicine 1 is not calling: please go to Internal medicine")
    finally:
        hub.db.close()


def test_guide_updates_are_debounced_and_unchanged_guides_are_not_sent_again(setup) -> None:
    hub, clock, wire, feed = setup
    waits(feed, US_1=(10, 600.0))
    hub.tick()
    n = len(wire.to("qs-us-1"))
    for w in (11, 12, 13):  # the queue moves every few seconds
        waits(feed, US_1=(w, 600.0))
        clock.advance(5)
        hub.tick()
    assert len(wire.to("qs-us-1")) == n
    clock.advance(60)
    hub.tick()
    assert len(wire.to("qs-us-1")) == n + 1 and wire.to("qs-us-1")[-1].waiting == 13
    clock.advance(120)
    hub.tick()  # nothing changed: nothing sent
    assert len(wire.to("qs-us-1")) == n + 1


def test_an_unacknowledged_command_raises_one_alarm_until_the_screen_acknowledges(setup) -> None:
    hub, clock, wire, feed = setup
    hub.tick()
    for d in ("qs-us-2", "qs-us-3"):
        ack_all(feed, wire, d)
    clock.advance(29)
    hub.tick()
    assert not open_alarms(hub, rule.RULE)
    for _ in range(5):
        clock.advance(10)
        hub.tick()
    hub.send_notice(["qs-us-1"], "Daily update", "每日更新", 600, "admin")  # still no ack
    clock.advance(40)
    hub.tick()
    alarms = open_alarms(hub, rule.RULE)
    assert [(a["source"], a["count"]) for a in alarms] == [("qs-us-1", 1)]
    ack_all(feed, wire, "qs-us-1")
    clock.advance(1)
    hub.tick()
    assert not open_alarms(hub, rule.RULE)
    shown = hub.screens.shown("qs-us-1")
    assert shown["notice"]["text_zh"] == "每日更新" and shown["notice"]["state"] == "acked"
    audit = hub.db.one("SELECT * FROM audit WHERE action='screens.notice'")
    assert audit is not None and audit["actor"] == "admin"


def test_an_unacknowledged_command_is_sent_again_a_bounded_number_of_times(setup) -> None:
    """A screen restarted (or upgraded) without the hub seeing it offline lost its command: the hub sends
    the same command again after the ack timeout, at most ``resend_max`` times, until it is acknowledged."""
    hub, clock, wire, feed = setup
    hub.set_rules({"rules": {"screen_command_unacked": {"ack_timeout_s": 30.0, "guide_every_s": 600.0,
                                                        "resend_max": 2}}}, "test")
    hub.send_notice(["qs-us-1", "qs-us-2"], "Daily update", "每日更新", 3600, "admin")
    hub.tick()
    ack_all(feed, wire, "qs-us-2")
    notice = [c for c in wire.to("qs-us-1") if c.type == "notice"]
    assert len(notice) == 1
    clock.advance(20)
    hub.tick()  # within the timeout: not yet
    assert len([c for c in wire.to("qs-us-1") if c.type == "notice"]) == 1
    for _ in range(6):
        clock.advance(30)
        hub.tick()
    again = [c for c in wire.to("qs-us-1") if c.type == "notice"]
    assert [c.id for c in again] == [notice[0].id] * 3  # the first send and two more: bounded
    assert len([c for c in wire.to("qs-us-2") if c.type == "notice"]) == 1  # acknowledged: never again
    assert "qs-us-1" in {a["source"] for a in open_alarms(hub, rule.RULE)}  # counted from the first send
    feed.record("qs-us-1", "event", {"event": "cmd_ack", "cmd": notice[0].id})
    clock.advance(1)
    hub.tick()
    assert hub.screens.shown("qs-us-1")["notice"]["state"] == "acked"
    assert "qs-us-1" not in {a["source"] for a in open_alarms(hub, rule.RULE)}


def test_commands_for_an_offline_screen_wait_until_it_returns_or_expire(setup) -> None:
    hub, clock, wire, feed = setup
    feed.record("qs-us-2", "status", {"state": "offline"})
    hub.send_notice(["qs-us-2"], "Closed at noon", "中午暂停", 300, "monitor")
    hub.send_notice(["qs-us-1"], "Short", "短", 10, "monitor")
    hub.tick()
    assert wire.to("qs-us-2") == []
    assert hub.screens.shown("qs-us-2")["notice"]["state"] == "pending"
    clock.advance(60)
    feed.record("qs-us-2", "status", {"state": "online"})
    hub.tick()
    notice = [c for c in wire.to("qs-us-2") if c.type == "notice"]
    assert [c.text_zh for c in notice] == ["中午暂停"]
    # The broker connection down: kept, sent when it is back; a command past its expiry is not sent.
    wire.up = False
    hub.send_notice(["qs-us-3"], "Later", "稍后", 30, "monitor")
    clock.advance(31)
    wire.up = True
    hub.tick()
    assert not [c for c in wire.to("qs-us-3") if c.type == "notice"]
    assert hub.screens.shown("qs-us-3")["notice"]["state"] == "expired"
    assert hub.screens.shown("qs-us-1")["notice"]["state"] == "expired"  # never acknowledged, now past


def test_the_reroute_choice_is_a_pure_function() -> None:
    def room(q: str, wait: int, crowded: bool = False, ok: bool = True, group: str = "us") -> rule.Room:
        return rule.Room(q, q.lower(), q, q, 1, group, wait // 60, wait, crowded, ok)

    own = room("A", 900, crowded=True)
    rooms = [own, room("B", 600), room("C", 300, crowded=True), room("D", 100, ok=False), room("E", 50, group="ct")]
    assert rule.alternative(own, rooms) == rooms[1]
    assert rule.display(own, rooms).type == "reroute"
    assert rule.display(own, [own]).type == "guide"  # nowhere better: keep guiding
    assert rule.due(rule.display(own, rooms), ("reroute", "B", 10, 10), 0.0, 5.0, 60.0) is False


def test_operators_broadcast_a_notice_through_the_api(offline_cfg: Config, clock: ManualClock) -> None:
    from tests.hub.conftest import http
    from tests.hub.live import LiveHub

    live = LiveHub(offline_cfg, clock).start()
    try:
        body = {"zones": ["imaging_us"], "devices": ["qs-ct-1"], "text": "Daily update", "text_zh": "每日更新",
                "expires_s": 600}
        status, _ = http(live.url + "/api/screens/notice", "POST", body, token=live.login("maintenance"))
        assert status == 403
        token = live.login("monitor")
        for bad in ({**body, "devices": ["kiosk-01"]}, {**body, "zones": ["nowhere"]}, {**body, "text": "", "text_zh": ""},
                    {**body, "expires_s": 0}, {**body, "text": "x" * 1000}, {**body, "devices": "qs-ct-1"}):
            status, err = http(live.url + "/api/screens/notice", "POST", bad, token=token)
            assert status == 400, (bad, err)
        status, out = http(live.url + "/api/screens/notice", "POST", body, token=token)
        assert status == 200, out
        assert sorted(c["device_id"] for c in out["commands"]) == ["qs-ct-1", "qs-us-1"]
        status, shown = http(live.url + "/api/screens", token=token)
        by_id = {s["device_id"]: s for s in shown}
        assert by_id["qs-us-1"]["notice"]["text_zh"] == "每日更新"
        assert by_id["qs-us-1"]["notice"]["state"] == "pending"  # no broker in this test: kept
        assert by_id["qs-xr-1"]["notice"] is None
        audit = live.call(live.ctx.hub.db.one, "SELECT actor FROM audit WHERE action='screens.notice'")
        assert audit["actor"] == "monitor"
    finally:
        live.stop()


def test_housekeeping_forgets_old_finished_commands_but_keeps_what_each_screen_shows(setup) -> None:
    hub, clock, wire, feed = setup
    for w in range(5):
        waits(feed, US_1=(w * 10, 600.0))
        clock.advance(120)
        hub.tick()
    hub.send_notice(["qs-us-1"], "Old", "旧", 60, "monitor")
    clock.advance(8 * 86400)
    hub.tick()
    before = hub.db.one("SELECT COUNT(*) AS n FROM screen_commands")["n"]
    hub.housekeeping()
    rows = hub.db.all("SELECT device_id, type FROM screen_commands")
    assert len(rows) < before
    assert hub.screens.shown("qs-us-1")["guide"] is not None and hub.screens.shown("qs-us-1")["notice"] is not None
