"""Live state rebuilt after a restart, migrations, roster and rules files, zone_stats to InfluxDB."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from floorops.config import Config
from floorops.influx import InfluxClient, query_sync, rows
from hub.app import zone_stats_lines
from hub import views
from hub.clock import ManualClock
from hub.db import Database, migrations
from hub.roster import RosterError, parse_roster
from hub.rules.config import RulesError, load_rules_file, validate_rules
from tests.hub.helpers import Feeder, kiosk_ok, make_hub, open_alarms, queue_reading


def test_live_state_is_rebuilt_after_a_restart(offline_cfg: Config, clock: ManualClock) -> None:
    hub = make_hub(offline_cfg, clock)
    f = Feeder(hub)
    f.record("kiosk-01", "telemetry", kiosk_ok(card_reader="jammed", resp_ms=700))
    f.record("qs-im-1", "telemetry", queue_reading("IM-1", 17, 900))
    f.occupancy("lab", 95)
    clock.advance(60)
    hub.db.close()  # no orderly shutdown: only what was committed counts

    hub2 = make_hub(offline_cfg, clock)
    d = views.device_json(hub2, "kiosk-01")
    assert d["state"] == "fault" and d["faults"] == ["card_jam"] and d["readings"]["resp_ms"] == 700
    assert views.zone_json(hub2, "im_clinic")["waiting"] == 17
    z = views.zone_json(hub2, "lab")
    assert z["occupancy"] == 95
    clock.advance(61)  # the crowding timer survived the restart: 121 s above 90 %
    hub2.tick()
    assert [a["source"] for a in open_alarms(hub2, "zone_crowded")] == ["lab"]
    before = len(hub2.alarms.list())
    Feeder(hub2).record("kiosk-01", "telemetry", kiosk_ok())
    assert open_alarms(hub2, "card_jam") == [] and len(hub2.alarms.list()) == before
    hub2.db.close()


def test_event_redelivered_after_restart_is_applied_once(offline_cfg: Config, clock: ManualClock) -> None:
    hub = make_hub(offline_cfg, clock)
    rec = Feeder(hub).record("kiosk-01", "event", {"event": "card_jam"})
    hub.db.close()
    hub2 = make_hub(offline_cfg, clock)
    hub2.apply_messages([("floorops/demo/edge/kiosk/kiosk-01/event", rec.to_json())])
    [a] = open_alarms(hub2)
    assert a["count"] == 1 and hub2.metrics["duplicates"] == 1
    hub2.db.close()


def test_registry_message_moves_a_device(offline_cfg: Config, clock: ManualClock) -> None:
    hub = make_hub(offline_cfg, clock)
    hub.apply_messages([("floorops/demo/registry/kiosk-new", b'{"id":"kiosk-new","kind":"kiosk","zone":"lab"}')])
    assert views.device_json(hub, "kiosk-new")["zone"] == "lab"
    hub.apply_messages([("floorops/demo/registry/kiosk-new", b'{"id":"kiosk-new","kind":"kiosk","zone":"mars"}')])
    assert hub.metrics["rejected_bad_registry"] == 1 and views.device_json(hub, "kiosk-new")["zone"] == "lab"
    hub.db.close()


def test_migrations_apply_once_in_order(tmp_path: Path) -> None:
    versions = [v for v, _, _ in migrations()]
    assert versions == sorted(versions) and versions[0] == 1
    db = Database(tmp_path / "h.sqlite")
    assert db.version == versions[-1]
    assert db.migrate() == versions[-1]  # again: nothing to do
    assert db.one("PRAGMA journal_mode")[0] == "wal"
    tables = {r[0] for r in db.all("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "sessions", "devices", "alarms", "tickets", "dispatches", "events", "audit"} <= tables
    db.close()


def test_roster_shifts_and_errors() -> None:
    roster = parse_roster({"people": [
        {"id": "a", "name": "A", "role": "maintenance", "shift": "22:00-06:00", "days": ["mon"]},
        {"id": "b", "name": "B", "role": "floor_manager", "shift": "08:00-17:00", "on_duty": False},
    ]})
    tz = dt.timezone(dt.timedelta(hours=8))
    a, b = roster.people
    assert a.on_shift(dt.datetime(2025, 11, 24, 23, 0, tzinfo=tz))  # Monday night
    assert a.on_shift(dt.datetime(2025, 11, 25, 5, 0, tzinfo=tz))  # ... into Tuesday morning
    assert not a.on_shift(dt.datetime(2025, 11, 25, 23, 0, tzinfo=tz))  # Tuesday night: not their day
    assert not b.on_shift(dt.datetime(2025, 11, 24, 10, 0, tzinfo=tz))  # off duty
    with pytest.raises(RosterError, match="role"):
        parse_roster({"people": [{"id": "x", "name": "X", "role": "surgeon"}]})


def test_a_round_the_clock_shift_covers_the_last_minute_of_the_day_too() -> None:
    tz = dt.timezone(dt.timedelta(hours=8))
    [always, default] = parse_roster({"people": [
        {"id": "a", "name": "A", "role": "floor_manager", "shift": "00:00-24:00"},
        {"id": "b", "name": "B", "role": "floor_manager"},  # no shift given: round the clock as well
    ]}).people
    for person in (always, default):
        for h, m, s in ((0, 0, 0), (12, 0, 0), (23, 59, 0), (23, 59, 59)):
            assert person.on_shift(dt.datetime(2025, 11, 24, h, m, s, tzinfo=tz)), (person.id, h, m, s)
    evening = parse_roster({"people": [{"id": "e", "name": "E", "role": "staff", "shift": "18:00-24:00"}]}).people[0]
    assert evening.on_shift(dt.datetime(2025, 11, 24, 23, 59, 30, tzinfo=tz))
    assert not evening.on_shift(dt.datetime(2025, 11, 24, 17, 59, tzinfo=tz))
    with pytest.raises(RosterError, match="shift"):
        parse_roster({"people": [{"id": "x", "name": "X", "role": "staff", "shift": "24:00-08:00"}]})
    with pytest.raises(RosterError, match="shift"):
        parse_roster({"people": [{"id": "x", "name": "X", "role": "staff", "shift": "9-5"}]})
    with pytest.raises(RosterError, match="unknown keys"):
        parse_roster({"people": [{"id": "x", "name": "X", "role": "staff", "pager": 1}]})


def test_rules_file_and_validation(tmp_path: Path) -> None:
    shipped = load_rules_file(Path(__file__).resolve().parents[2] / "hub" / "rules.toml")
    assert shipped["rules"]["charger_ground_fault"]["severity"] == "critical"
    assert shipped["rules"]["long_wait"]["queues"]["ER-1"]["max_waiting"] == 20
    for bad, words in [({"rules": {"card_jam": {"severity": "apocalyptic"}}}, "severity"),
                       ({"rules": {"zone_crowded": {"raise_ratio": 0.5, "clear_ratio": 0.8}}}, "hysteresis"),
                       ({"alarms": {"escalate_after_s": {"urgent": 5}}}, "severity"),
                       ({"rules": {"device_offline": {"timeout_s": {"toaster": 5}}}}, "kind"),
                       ({"tickets": {"respond_min": -1}}, "respond_min")]:
        with pytest.raises(RulesError, match=words):
            validate_rules(bad)
    broken = tmp_path / "rules.toml"
    broken.write_text("[rules.card_jam\n")
    with pytest.raises(RulesError, match=str(broken)):
        load_rules_file(broken)


@pytest.mark.integration
def test_zone_stats_points_written_per_closed_bucket(offline_cfg: Config, clock: ManualClock, influx, influx_db) -> None:
    offline_cfg.influx.url, offline_cfg.influx.database = influx.url, influx_db
    hub = make_hub(offline_cfg, clock)
    f = Feeder(hub)
    bucket = 900
    start = clock.now() - clock.now() % bucket
    qs = [d for d in hub.site.devices if d.queue and d.zone == "im_clinic"]
    for i in range(3):
        f.record(qs[i % len(qs)].id, "event", {"event": "ticket_issued", "queue": qs[i % len(qs)].queue, "ticket": f"A{i}"})
    f.record(qs[0].id, "telemetry", queue_reading(qs[0].queue, 12, 600))
    f.occupancy("im_clinic", 64.0)
    clock.set(start + bucket + 5)
    lines, keys = zone_stats_lines(hub, clock.now())
    assert len(lines) == len(hub.site.zones)
    asyncio.run(_write(offline_cfg, lines))
    series = query_sync(influx.url, influx_db, "SELECT arrivals, occupancy, waiting FROM zone_stats WHERE zone='im_clinic'")
    [row] = rows(series[0])
    assert (row["arrivals"], row["occupancy"], row["waiting"]) == (3, 64.0, 12)
    assert row["time"] == int(start * 1000)
    hub.db.close()


async def _write(cfg: Config, lines: list[str]) -> None:
    client = InfluxClient(cfg.influx.url, cfg.influx.database)
    try:
        await client.write(lines)
    finally:
        await client.close()


@pytest.mark.integration
def test_zone_and_device_history_from_influxdb(offline_cfg: Config, clock: ManualClock, influx, influx_db) -> None:
    import time
    from floorops.influx import line, point_time_ns, write_sync
    from tests.hub.conftest import http
    from tests.hub.live import PASSWORDS, LiveHub

    offline_cfg.influx.url, offline_cfg.influx.database = influx.url, influx_db
    now_ms = int(time.time() * 1000)
    clock.set(now_ms / 1000)
    write_sync(influx.url, influx_db, [
        line("zone_occupancy", {"site": "demo", "zone": "lab"}, {"occupancy": 41.0, "devices": 2}, (now_ms - 600_000) * 10**6),
        line("zone_occupancy", {"site": "demo", "zone": "lab"}, {"occupancy": 57.0, "devices": 3}, (now_ms - 60_000) * 10**6),
        line("zone_occupancy", {"site": "demo", "zone": "paed"}, {"occupancy": 9.0, "devices": 1}, (now_ms - 60_000) * 10**6),
        line("kiosk", {"site": "demo", "zone": "reg_hall", "device_id": "kiosk-01"}, {"resp_ms": 900, "seq": 3},
             point_time_ns(now_ms - 30_000, 3)),
    ])
    live = LiveHub(offline_cfg, clock).start()
    try:
        token = http(live.url + "/api/login", "POST", {"username": "monitor", "password": PASSWORDS["monitor"]})[1]["token"]
        since = dt.datetime.fromtimestamp(now_ms / 1000 - 3600, dt.timezone.utc).isoformat()
        status, hist = http(live.url + f"/api/zones/lab/history?since={since.replace('+', '%2B')}", token=token)
        assert status == 200 and [(r["occupancy"], r["devices"]) for r in hist] == [(41.0, 2), (57.0, 3)]
        assert hist[0]["ts"].endswith("+08:00")
        status, hist = http(live.url + "/api/zones/lab/history?since=5m", token=token)
        assert [r["occupancy"] for r in hist] == [57.0]
        assert http(live.url + "/api/zones/mars/history", token=token)[0] == 404
        status, rows_ = http(live.url + "/api/devices/kiosk-01/history?since=1h", token=token)
        assert status == 200 and [r["resp_ms"] for r in rows_] == [900] and "device_id" not in rows_[0]
    finally:
        live.stop()
