"""Escalation chains to named people, reminders, stop at acknowledgement, quiet hours against emergencies,
a person's choice of events, comments and assignees; silences and maintenance windows (ManualClock)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from floorops.config import Config
from hub import views
from hub.clock import ManualClock
from hub.silences import SilenceError, parse_weekly
from tests.hub.helpers import Feeder, kiosk_ok, make_hub, open_alarms
from tests.hub.notify_fixtures import use_notify_files

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def hub(offline_cfg: Config, clock: ManualClock, tmp_path: Path):
    use_notify_files(offline_cfg, tmp_path)
    h = make_hub(offline_cfg, clock)
    yield h
    h.db.close()


def rows(hub, state: str | None = None, alarm: dict | None = None) -> list[tuple[str, str, int, str]]:
    """(person, channel, step, key) of the notify outbox (about one alarm), oldest first."""
    q = "SELECT * FROM notify_outbox WHERE (? IS NULL OR state=?) AND (? IS NULL OR subject_id=?) ORDER BY id"
    alarm_id = str(alarm["id"]) if alarm else None
    return [(r["person_id"], r["channel"], r["step"], r["key"])
            for r in hub.db.all(q, (state, state, alarm_id, alarm_id))]


def tick(hub, clock: ManualClock, seconds: float) -> None:
    clock.advance(seconds)
    hub.tick()


def card_jam(hub, device: str = "kiosk-01") -> dict:
    Feeder(hub).record(device, "event", {"event": "card_jam"})  # a major alarm
    [a] = [a for a in open_alarms(hub, "card_jam") if a["device_id"] == device]
    return a


def test_chain_steps_reminders_and_stop_at_acknowledgement(hub, clock: ManualClock) -> None:
    a = card_jam(hub)
    # Step 1: the maintenance person on shift, on each of their channels.
    assert [(p, c, s) for p, c, s, _ in rows(hub, alarm=a)] == [("p-mt", "smtp", 0), ("p-mt", "sms", 0)]
    tick(hub, clock, 60)
    assert len(rows(hub, alarm=a)) == 2  # nothing before the reminder interval
    tick(hub, clock, 60)  # 120 s: a reminder to the same step, under a new key
    assert [(p, c, s) for p, c, s, _ in rows(hub, alarm=a)[2:]] == [("p-mt", "smtp", 0), ("p-mt", "sms", 0)]
    assert rows(hub, alarm=a)[2][3].endswith(":r1:p-mt:smtp") and rows(hub, alarm=a)[0][3].endswith(":r0:p-mt:smtp")
    tick(hub, clock, 180)  # 300 s: step 1 timed out -> the supervisor
    assert [(p, c, s) for p, c, s, _ in rows(hub, alarm=a)[4:]] == [("p-fm", "smtp", 1)]
    tick(hub, clock, 600)  # 900 s: the duty manager (p-crit chose critical only: a major alarm skips them)
    assert [(p, c, s) for p, c, s, _ in rows(hub, alarm=a)[5:]] == [("p-dm", "smtp", 2), ("p-dm", "wecom", 2)]
    tick(hub, clock, 120)  # the last step keeps reminding
    assert [(p, s) for p, _, s, _ in rows(hub, alarm=a)[7:]] == [("p-dm", 2), ("p-dm", 2)]
    hub.tick()
    assert len(rows(hub, alarm=a)) == 9  # the same tick again pages nobody twice
    with hub.unit_of_work():
        acked = hub.alarms.acknowledge(a["id"], "fm1", "on my way, jam at the card slot")
    assert acked["state"] == "acknowledged"
    assert hub.escalation.status("alarm", str(a["id"]))["state"] == "stopped"
    assert rows(hub, "pending", a) == []  # what was not sent yet is cancelled
    for _ in range(5):
        tick(hub, clock, 600)
    assert len(rows(hub, alarm=a)) == 9
    [c] = hub.alarms.comments(a["id"])
    assert (c["author"], c["body"]) == ("fm1", "on my way, jam at the card slot")
    history = [h["action"] for h in hub.alarms.history(a["id"])]
    assert history[:2] == ["raised", "paged"] and history[-2:] == ["commented", "acknowledged"]


def test_console_session_gets_the_page(hub) -> None:
    a = card_jam(hub)
    pages = hub.db.all("SELECT * FROM events WHERE type='notify.page'")
    assert [(p["audience"], json.loads(p["data"])["subject_id"]) for p in pages] == [("mt1", str(a["id"]))]


def test_quiet_hours_hold_a_page_until_morning_but_never_an_emergency(hub, clock: ManualClock) -> None:
    clock.set(dt.datetime(2025, 11, 24, 23, 0, tzinfo=SHANGHAI).timestamp())  # p-fm's quiet hours: 22-07
    a = card_jam(hub)
    tick(hub, clock, 300)  # step 1 pages p-fm during quiet hours
    [r] = hub.db.all("SELECT * FROM notify_outbox WHERE person_id='p-fm' AND subject_id=?", (str(a["id"]),))
    assert r["next_at"] == dt.datetime(2025, 11, 25, 7, 0, tzinfo=SHANGHAI).timestamp()
    hub.notify_settings.urgent_severities = ("major",)  # the same alarm as an emergency
    Feeder(hub).record("kiosk-02", "event", {"event": "card_jam"})
    [b] = [x for x in open_alarms(hub, "card_jam") if x["device_id"] == "kiosk-02"]
    tick(hub, clock, 300)
    urgent = hub.db.all("SELECT * FROM notify_outbox WHERE person_id='p-fm' AND subject_id=?", (str(b["id"]),))
    assert len(urgent) == 1 and urgent[0]["urgent"] == 1 and urgent[0]["next_at"] == clock.now()


def test_a_person_gets_the_emergencies_they_did_not_choose(hub, clock: ManualClock) -> None:
    hub.notify_settings.urgent_severities = ("major",)
    a = card_jam(hub)
    tick(hub, clock, 300)
    tick(hub, clock, 600)
    assert {p for p, _, s, _ in rows(hub, alarm=a) if s == 2} == {"p-dm", "p-crit"}


def test_assign_and_comment_thread(hub) -> None:
    a = card_jam(hub)
    with hub.unit_of_work():
        hub.alarms.assign(a["id"], "p-mt", "fm1")
        hub.alarms.comment(a["id"], "mt1", "spare reader fetched")
    assert hub.alarms.json(a["id"])["assignee"] == "p-mt"
    assert [c["body"] for c in hub.alarms.comments(a["id"])] == ["spare reader fetched"]


# -- silences and maintenance windows --------------------------------------------------------------------

def test_weekly_window_crossing_midnight_and_the_week_boundary() -> None:
    w = parse_weekly({"days": ["sun"], "start": "23:00", "end": "01:00"})
    at = lambda *a: dt.datetime(*a, tzinfo=SHANGHAI)  # noqa: E731 - a short local-time maker
    assert w.covers(at(2025, 11, 30, 23, 30))  # Sunday night
    assert w.covers(at(2025, 12, 1, 0, 30))  # Monday 00:30 belongs to Sunday's window (new week)
    assert not w.covers(at(2025, 12, 1, 1, 0))
    assert not w.covers(at(2025, 11, 29, 23, 30))  # Saturday
    assert not w.covers(at(2025, 12, 1, 23, 30))  # Monday night
    with pytest.raises(SilenceError):
        parse_weekly({"days": ["sunday"], "start": "02:00", "end": "04:00"})


def maintenance_shown(hub) -> list[tuple[str, bool]]:
    """(device, in maintenance) of every ``device.updated`` event that showed the flag changed."""
    out: list[tuple[str, bool]] = []
    for e in hub.bus.since(0):
        if e.type == "device.updated" and e.data.get("maintenance") is not None:
            last = next((m for d, m in reversed(out) if d == e.data["id"]), False)
            if e.data["maintenance"] != last:
                out.append((e.data["id"], e.data["maintenance"]))
    return out


def test_maintenance_window_records_alarms_but_pages_nobody_and_opens_no_ticket(hub, clock: ManualClock) -> None:
    sunday_0300 = dt.datetime(2025, 11, 30, 3, 0, tzinfo=SHANGHAI).timestamp()
    with hub.unit_of_work():
        s = hub.silences.create({"device_ids": ["kiosk-01"], "weekly": {"days": ["sun"], "start": "02:00",
                                 "end": "04:00"}, "expires_at": sunday_0300 + 30 * 86400,
                                 "reason": "card reader firmware update"}, "admin")
    assert s["active"] is False and views.device_json(hub, "kiosk-01").get("maintenance") is False
    clock.set(sunday_0300)
    hub.tick()
    assert views.device_json(hub, "kiosk-01")["maintenance"] is True
    assert views.device_json(hub, "kiosk-02")["maintenance"] is False
    # The consoles are shown the window opening though the device's state did not change.
    assert maintenance_shown(hub) == [("kiosk-01", True)]
    a = card_jam(hub)
    assert a["silenced"] and a["silenced_by"] == s["id"]  # recorded
    assert rows(hub, alarm=a) == [] and hub.tickets.list() == []  # nobody paged, no ticket
    assert hub.escalation.status("alarm", str(a["id"])) is None
    Feeder(hub).record("kiosk-01", "telemetry", kiosk_ok())
    clock.set(sunday_0300 + 2 * 3600)  # 05:00: the window is over
    hub.tick()
    assert views.device_json(hub, "kiosk-01")["maintenance"] is False
    assert maintenance_shown(hub)[-1] == ("kiosk-01", False)
    b = card_jam(hub)
    tickets_of = {t["alarm_id"] for t in hub.tickets.list()}
    assert not b["silenced"] and b["id"] in tickets_of and a["id"] not in tickets_of and rows(hub, alarm=b)


def test_a_silence_needs_matchers_a_reason_and_an_expiry(hub) -> None:
    for bad in ({"reason": "x", "expires_at": "1h"}, {"zones": ["lab"], "expires_at": "2d"},
                {"zones": ["lab"], "reason": "r"}):
        with pytest.raises(SilenceError):
            hub.silences.create(bad, "admin")


def test_a_person_chooses_their_own_events_channels_and_quiet_hours(hub, clock: ManualClock) -> None:
    from hub.escalation import PreferencesError
    fm = next(p for p in hub.roster.people if p.id == "p-fm")
    with hub.unit_of_work():
        prefs = hub.escalation.set_preferences(fm, {"events": ["severity:critical"], "channels": ["smtp", "sms"]})
    assert prefs["events"] == ["severity:critical"] and prefs["quiet_hours"] == "22:00-07:00"
    for bad in ({"channels": ["pager"]}, {"events": ["critical"]}, {"quiet_hours": "late"}, {"colour": "red"}):
        with pytest.raises(PreferencesError):
            hub.escalation.set_preferences(fm, bad)
    a = card_jam(hub)  # major: p-fm chose critical only
    tick(hub, clock, 300)
    assert [p for p, _, s, _ in rows(hub, alarm=a) if s == 1] == []
    hub.notify_settings.urgent_severities = ("major",)  # an emergency reaches them all the same
    Feeder(hub).record("kiosk-02", "event", {"event": "card_jam"})
    [b] = [x for x in open_alarms(hub, "card_jam") if x["device_id"] == "kiosk-02"]
    tick(hub, clock, 300)
    # their own channels (sms needs a phone they do not have: only the e-mail)
    assert [(p, c) for p, c, s, _ in rows(hub, alarm=b) if s == 1] == [("p-fm", "smtp")]


def test_my_notify_choices_over_http(offline_cfg: Config) -> None:
    from tests.hub.conftest import http
    from tests.hub.live import LiveHub
    live = LiveHub(offline_cfg).start()  # the demo roster: fm-zhang is p-zhang
    try:
        token = live.login("fm-zhang")
        status, mine = http(live.url + "/api/me/notify", token=token)
        assert status == 200 and mine["person"] == "p-zhang" and mine["urgent_severities"] == ["critical"]
        status, err = http(live.url + "/api/me/notify", "PUT", {"events": ["everything"]}, token=token)
        assert status == 400 and "events" in err["error"]
        status, mine = http(live.url + "/api/me/notify", "PUT", {"events": ["severity:critical"],
                                                                  "quiet_hours": "23:00-06:30"}, token=token)
        assert status == 200 and mine["events"] == ["severity:critical"] and mine["quiet_hours"] == "23:00-06:30"
        # The demo roster names channels (wecom, sms) the offline notify file lacks: kept, not chosen anew.
        assert mine["channels"] == ["wecom", "sms"]
        status, err = http(live.url + "/api/me/notify", "PUT", {"channels": ["wecom"]}, token=token)
        assert status == 400 and "channels" in err["error"]
        assert http(live.url + "/api/me/notify", token=live.login("admin"))[0] == 404  # no roster person
        audit = live.call(lambda: live.ctx.hub.db.all("SELECT actor, action FROM audit"))
        assert ("fm-zhang", "notify.preferences") in [tuple(r) for r in audit]
    finally:
        live.stop()


def test_a_restarted_hub_resumes_the_chain_where_it_was(offline_cfg: Config, clock: ManualClock,
                                                        tmp_path: Path) -> None:
    use_notify_files(offline_cfg, tmp_path)
    first = make_hub(offline_cfg, clock)
    a = card_jam(first)
    tick(first, clock, 120)  # reminder 1 of step 0
    first.db.close()
    second = make_hub(offline_cfg, clock)  # a new process on the same database
    try:
        tick(second, clock, 180)
        assert [(p, s) for p, _, s, _ in rows(second, alarm=a)][-1:] == [("p-fm", 1)]
        hub_rows = rows(second, alarm=a)
        second.tick()
        assert rows(second, alarm=a) == hub_rows  # nothing paged twice after the restart
    finally:
        second.db.close()


def test_another_modules_subject_plugs_into_the_same_chains(hub, clock: ManualClock) -> None:
    from hub.escalation import Subject
    from hub.notify.settings import Chain, Step
    hub.notify_settings.chains += (Chain("spills", "request", (), ("spill",),
                                         (Step(("role:maintenance",), 60), Step(("person:p-fm",), 0))),)
    open_requests = {"r-7": Subject("request", "r-7", "major", "spill", "reg_hall", "spill at the entrance")}
    hub.escalation.register_subject("request", open_requests.get)
    with hub.unit_of_work():
        assert hub.escalation.start(open_requests["r-7"])
        assert not hub.escalation.start(open_requests["r-7"])  # once
        assert not hub.escalation.start(Subject("request", "r-8", "major", "lost_item"))  # no chain for it
    keyed = lambda: [r["key"] for r in hub.db.all(  # noqa: E731 - a short query
        "SELECT key FROM notify_outbox WHERE subject_kind='request' ORDER BY id")]
    assert keyed() == ["request:r-7:s0:r0:p-mt:smtp", "request:r-7:s0:r0:p-mt:sms"]
    tick(hub, clock, 60)
    assert keyed()[-1] == "request:r-7:s1:r0:p-fm:smtp"
    with hub.unit_of_work():
        assert hub.escalation.stop("request", "r-7", "fm1")
    tick(hub, clock, 600)
    assert len(keyed()) == 3 and hub.escalation.status("request", "r-7")["stopped_by"] == "fm1"


def test_a_step_that_pages_nobody_waits_for_the_person_already_offered_the_job(hub, clock: ManualClock) -> None:
    """A request's dispatch offer already rang the person sent: its chain's first step (``to = []``) pages
    nobody and sends no reminder, and the next step pages only if nobody took the job in that time."""
    from hub.escalation import Subject
    from floorops.config import ConfigError
    from hub.notify.settings import Step, parse_notify
    [chain] = parse_notify({"chains": [{"name": "escorts", "subject": "request", "types": ["escort"], "steps": [
        {"to": [], "timeout_s": 180}, {"to": ["person:p-fm"], "timeout_s": 0}]}]}).chains
    assert chain.steps[0] == Step((), 180.0)
    hub.notify_settings.chains += (chain,)
    open_requests = {"r-1": Subject("request", "r-1", "major", "escort", "reg_hall", "escort to CT"),
                     "r-2": Subject("request", "r-2", "major", "escort", "lab", "escort to the lab")}
    hub.escalation.register_subject("request", open_requests.get)
    keyed = lambda: [r["key"] for r in hub.db.all(  # noqa: E731 - a short query
        "SELECT key FROM notify_outbox WHERE subject_kind='request' ORDER BY id")]
    with hub.unit_of_work():
        assert hub.escalation.start(open_requests["r-1"]) and hub.escalation.start(open_requests["r-2"])
    assert keyed() == []
    tick(hub, clock, 170)  # past the reminder interval (120 s here): a waiting step has no reminders
    assert keyed() == []
    with hub.unit_of_work():  # r-2 was taken in time: nobody is ever paged about it
        hub.escalation.stop("request", "r-2", "fm1")
    tick(hub, clock, 20)
    assert keyed() == ["request:r-1:s1:r0:p-fm:smtp"]
    # A step naming nobody is refused only when it has no "to" at all.
    with pytest.raises(ConfigError, match=r"steps\[0\]\.to"):
        parse_notify({"chains": [{"name": "x", "subject": "request", "steps": [{"timeout_s": 60}]}]})


def test_a_silenced_alarm_reaches_no_webhook_and_is_never_flagged_escalated(hub, clock: ManualClock) -> None:
    """A maintenance window pages nobody: not through a chain, and not through the generic webhooks or the
    older ``escalated`` flag either (a webhook receiver is often a pager), as Alertmanager's silences mute
    every receiver. An alarm outside the window still goes out."""
    from hub.webhooks import Receiver, WebhookSender
    sender = WebhookSender(hub.db, hub.tz, [Receiver("http://127.0.0.1:9/hook", None,
                                                     frozenset({"alarm.raised", "alarm.updated"}))])
    sender.attach(hub.bus)
    with hub.unit_of_work():
        hub.silences.create({"device_ids": ["kiosk-01"], "expires_at": clock.now() + 4 * 3600,
                             "reason": "firmware update"}, "admin")
    silenced = card_jam(hub)
    assert silenced["silenced"]
    clock.advance(2 * 3600)  # far past every escalate_after_s
    hub.tick()
    assert hub.db.one("SELECT escalated FROM alarms WHERE id=?", (silenced["id"],))["escalated"] == 0
    queued = {json.loads(r["body"])["data"].get("id") for r in hub.db.all("SELECT body FROM webhook_outbox")}
    assert silenced["id"] not in queued
    loud = card_jam(hub, "kiosk-02")
    assert loud["id"] in {json.loads(r["body"])["data"].get("id") for r in hub.db.all("SELECT body FROM webhook_outbox")}
