"""The wheelchair stations' past from InfluxDB (``wheelchair_hour``, written by ``firmware_sim load-history``)
imported into the hub's ``wheelchair_hours`` at start, so the demand forecast exists from the first day; an
hour the hub measured itself is never overwritten, and InfluxDB down leaves the hub serving, counted."""

from __future__ import annotations

import asyncio
import datetime as dt
import urllib.request

import pytest

from floorops.config import Config
from floorops.measurements import wheelchair_hour_line
from floorops.site import load_site
from hub import views, wheelchairs
from hub.app import import_wheelchair_history, wheelchair_history_loader
from hub.clock import ManualClock
from tests.hub.conftest import http, make_cfg, wait_for
from tests.hub.helpers import make_hub
from tests.hub.live import LiveHub

WEEK = 7 * 86_400


@pytest.fixture
def hub(offline_cfg: Config, clock: ManualClock):
    h = make_hub(offline_cfg, clock)
    yield h
    h.db.close()


def test_the_line_and_its_rows_read_back() -> None:
    ln = wheelchair_hour_line("demo", "charger-01", "entrance", 3, 2, 4, 1_700_000_000 * 10**9)
    assert ln == ("wheelchair_hour,site=demo,station=charger-01,zone=entrance demand=3i,returned=2i,supply_min=4i "
                  "1700000000000000000")
    assert "supply_min" not in wheelchair_hour_line("demo", "charger-01", "entrance", 0, 0, None, 0)
    hours = wheelchairs.hours_from_points([
        {"time": 1_700_000_000_000, "station": "charger-01", "zone": "entrance", "demand": 3, "returned": 2,
         "supply_min": 4},
        {"time": 1_700_003_600_000, "station": "charger-01", "zone": "entrance", "demand": 1, "returned": None},
        {"time": 1_700_007_200_000, "station": None, "demand": 5},  # no station: not an hour of anyone's
        {"time": 1_700_007_200_000, "station": "charger-02", "demand": "x"},  # no number: skipped
    ])
    assert hours == [wheelchairs.ImportedHour("charger-01", "entrance", 1_700_000_000.0, 3, 2, 4),
                     wheelchairs.ImportedHour("charger-01", "entrance", 1_700_003_600.0, 1, 0, None)]


def test_imported_hours_fill_the_forecast_and_never_overwrite_live_ones(hub, clock: ManualClock) -> None:
    now = clock.now()
    hour = dt.datetime.fromtimestamp(now, hub.tz).hour
    this_hour = wheelchairs.hour_start(now, hub.tz)
    with hub.unit_of_work():  # measured live a week ago: 6 chairs taken, 2 charged at the fewest
        wheelchairs.record(hub.db, hub.tz, "charger-01", "entrance", this_hour - WEEK + 60, 6, 1, 2)
    past = [wheelchairs.ImportedHour("charger-01", "entrance", this_hour - w * WEEK, 2, 2, 5) for w in (1, 2, 3, 4)]
    past.append(wheelchairs.ImportedHour("charger-99", "entrance", this_hour - WEEK, 50, 0, 1))  # not on the site
    with hub.unit_of_work():
        added = wheelchairs.import_hours(hub.db, past, [d.id for d in hub.site.devices if d.kind == "charger"])
    assert added == 3  # weeks 2-4; week 1's hour is the hub's own
    row = hub.db.one("SELECT taken, returned, min_charged FROM wheelchair_hours WHERE station='charger-01' "
                     "AND hour_start=?", (this_hour - WEEK,))
    assert tuple(row) == (6, 1, 2)
    data = views.wheelchairs_json(hub)
    assert data["hours"][hour]["forecast"] == (6 + 2 + 2 + 2) / 4
    # Importing again adds nothing (a restart of the hub).
    with hub.unit_of_work():
        assert wheelchairs.import_hours(hub.db, past, ["charger-01"]) == 0


@pytest.mark.integration
def test_load_history_gives_todays_forecast_from_the_first_start(tmp_path, influx, influx_db) -> None:
    """The demo's path: load-history into a real influxd, a hub that never ran, its forecast for today (a
    Wednesday late morning, on the injected clock)."""
    from firmware_sim.load import load_history

    cfg = make_cfg(tmp_path, influx=influx, database=influx_db)
    site = load_site(cfg.site.file)
    at = dt.datetime(2026, 11, 25, 11, 30, tzinfo=site.tz)
    now = at.timestamp()
    clock = ManualClock(now)
    load_history(cfg, site, 2, seed=4, now=at)
    live = LiveHub(cfg, clock).start()
    try:
        token = live.login("monitor")
        status, body = http(live.url + "/api/wheelchairs", token=token)
        assert status == 200 and body["site"]["forecast_today"] is None  # nothing imported yet
        added = asyncio.run_coroutine_threadsafe(import_wheelchair_history(live.ctx), live.loop).result(60)
        status, body = http(live.url + "/api/wheelchairs", token=token)
        assert status == 200
        assert all(h["forecast"] is not None for h in body["hours"])
        assert body["site"]["forecast_today"] > 20  # the demo's loans last Wednesday (about 40)
        peak = max(body["hours"], key=lambda h: h["forecast"])
        assert 7 <= peak["hour"] <= 16
        # Today's hours before this one came from the history too; this hour is the hub's to measure.
        this_hour = dt.datetime.fromtimestamp(now, site.tz).hour
        assert live.ctx.hub.db.one("SELECT COUNT(*) FROM wheelchair_hours WHERE hour_start >= ?",
                                   (wheelchairs.hour_start(now, site.tz),))[0] == 0
        assert sum(h["demand"] for h in body["hours"][:this_hour]) == body["site"]["demand_today"] > 5  # the morning
        assert live.ctx.hub.metrics["wheelchair_history_hours"] == added > 0
        # The next pass (the loader repeats, as load-history may run after the hub started) adds nothing.
        assert asyncio.run_coroutine_threadsafe(import_wheelchair_history(live.ctx), live.loop).result(60) == 0
    finally:
        live.stop()


def test_influxdb_down_at_start_the_hub_serves_without_forecast_and_counts(offline_cfg: Config,
                                                                         clock: ManualClock) -> None:
    live = LiveHub(offline_cfg, clock).start()  # offline_cfg: nothing listens at its InfluxDB address
    task = asyncio.run_coroutine_threadsafe(wheelchair_history_loader(live.ctx, retry_s=0.2), live.loop)
    try:
        wait_for(lambda: live.ctx.hub.metrics["wheelchair_history_failed"] >= 2, 30, "two failed attempts")
        assert not task.done()  # still trying, in the background
        status, body = http(live.url + "/api/wheelchairs", token=live.login("monitor"))
        assert status == 200 and body["site"]["forecast_today"] is None
        assert all(h["forecast"] is None for h in body["hours"])
        with urllib.request.urlopen(live.url + "/metrics") as r:
            text = r.read().decode()
        assert 'floorops_hub_wheelchair_history_total{result="failed"}' in text
    finally:
        task.cancel()
        live.stop()
