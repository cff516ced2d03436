"""Device reliability against the target on known fault sequences, on a ManualClock (any day, any hour):
fault rate per day / week / month, MTTR and MTBF per kind and per device, the fault_rate_high alarm, and
the API route."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from floorops.config import Config
from hub import kpis, reliability
from hub.clock import ManualClock
from hub.core import Hub
from tests.hub.helpers import Feeder, make_hub, open_alarms


@pytest.fixture
def hub(offline_cfg: Config, clock: ManualClock) -> Any:
    h = make_hub(offline_cfg, clock)
    yield h
    h.db.close()


def _day_start(hub: Hub) -> float:
    day = dt.datetime.fromtimestamp(hub.clock.now(), hub.tz).date()
    return dt.datetime.combine(day, dt.time(), hub.tz).timestamp()


def _fault(hub: Hub, f: Feeder, clock: ManualClock, device: str, event: str, at: float, lasts: float) -> None:
    clock.set(at)
    f.record(device, "event", {"event": event})
    clock.set(at + lasts)
    f.record(device, "event", {"event": "fault_cleared", "fault": event})


def _known_sequence(hub: Hub, clock: ManualClock) -> float:
    """kiosk-01: card jam 10 min at 02:00, paper out 30 min at 04:00; kiosk-02: printer jam 20 min at 03:00
    (site-local, on the clock's day). Returns the day's start."""
    start = _day_start(hub)
    f = Feeder(hub)
    _fault(hub, f, clock, "kiosk-01", "card_jam", start + 2 * 3600, 600)
    _fault(hub, f, clock, "kiosk-02", "printer_jam", start + 3 * 3600, 1200)
    _fault(hub, f, clock, "kiosk-01", "paper_out", start + 4 * 3600, 1800)
    clock.set(start + 6 * 3600)
    return start


def _devices(hub: Hub) -> dict[str, str]:
    return {d.id: d.kind for d in hub.state.devices.values()}


def test_day_fault_rate_mttr_mtbf_per_kind_and_device(hub: Hub, clock: ManualClock) -> None:
    start = _known_sequence(hub, clock)
    day = dt.datetime.fromtimestamp(start, hub.tz).date()
    r = reliability.report(hub.db, hub.rules.settings, _devices(hub), hub.tz, clock.now(), "day", day)
    kiosks = sum(1 for k in _devices(hub).values() if k == "kiosk")
    span = 6 * 3600
    k = r["by_kind"]["kiosk"]
    assert (k["devices"], k["faulted"], k["failures"]) == (kiosks, 2, 3)
    assert k["fault_rate"] == round(2 / kiosks, 4) and k["over_target"] is (2 / kiosks > 0.05)
    assert k["mttr_s"] == 1200.0  # (600 + 1200 + 1800) / 3
    assert k["mtbf_s"] == round((kiosks * span - 3600) / 3, 1)
    devs = {d["id"]: d for d in r["devices"]}
    assert devs["kiosk-01"]["failures"] == 2 and devs["kiosk-01"]["downtime_s"] == 2400.0
    assert devs["kiosk-01"]["mttr_s"] == 1200.0 and devs["kiosk-01"]["mtbf_s"] == (span - 2400) / 2
    assert devs["kiosk-02"]["mtbf_s"] == span - 1200.0 and devs["kiosk-03"]["mtbf_s"] is None
    # per device: the day had a fault (a share of days, 1 of 1) and the time without a ticket open
    assert (devs["kiosk-01"]["fault_days"], devs["kiosk-01"]["days"], devs["kiosk-01"]["fault_rate"]) == (1, 1, 1.0)
    assert devs["kiosk-01"]["over_target"] is True and devs["kiosk-03"]["fault_rate"] == 0.0
    assert devs["kiosk-01"]["availability"] == round(1 - 2400 / span, 4) and devs["kiosk-03"]["availability"] == 1.0
    assert r["failures"] == 3 and r["mttr_s"] == 1200.0
    assert [p["date"] for p in r["trend"]] == [day.isoformat()]
    # the daily KPI is the same definition, with the configured target
    daily = kpis.compute(hub, day)
    assert daily["fault_rate_by_kind"]["kiosk"] == k["fault_rate"] and daily["fault_rate_target"] == 0.05


def test_week_and_month_trend_and_bounds(hub: Hub, clock: ManualClock) -> None:
    start = _known_sequence(hub, clock)
    day = dt.datetime.fromtimestamp(start, hub.tz).date()
    clock.set(start + 2 * 86400 + 3600)  # two days later, no new faults
    week = reliability.report(hub.db, hub.rules.settings, _devices(hub), hub.tz, clock.now(), "week", day)
    monday = day - dt.timedelta(days=day.weekday())
    assert (week["from"], week["to"]) == (monday.isoformat(), (monday + dt.timedelta(days=6)).isoformat())
    trend = {p["date"]: p["by_kind"].get("kiosk") for p in week["trend"]}
    kiosks = week["by_kind"]["kiosk"]["devices"]
    assert trend[day.isoformat()] == round(2 / kiosks, 4)
    assert trend[(day + dt.timedelta(days=1)).isoformat()] == 0.0
    assert max(trend) == (day + dt.timedelta(days=2)).isoformat()  # no point for days still to come
    assert week["by_kind"]["kiosk"]["fault_rate"] == round(2 / kiosks, 4)  # devices faulted in the week
    # per device over the week so far: one faulted day of the days up to today
    devs = {d["id"]: d for d in week["devices"]}
    days = len(week["trend"])
    assert devs["kiosk-01"]["days"] == days and devs["kiosk-01"]["fault_rate"] == round(1 / days, 4)
    assert devs["kiosk-02"]["fault_days"] == 1 and devs["kiosk-03"]["fault_days"] == 0
    kiosk_rows = [d for d in week["devices"] if d["kind"] == "kiosk"]
    mean_of_days = sum(p["by_kind"]["kiosk"] for p in week["trend"]) / days
    assert sum(d["fault_rate"] for d in kiosk_rows) / len(kiosk_rows) == pytest.approx(mean_of_days, abs=1e-3)
    month = reliability.report(hub.db, hub.rules.settings, _devices(hub), hub.tz, clock.now(), "month", day)
    assert month["from"] == day.replace(day=1).isoformat() and month["failures"] == 3
    assert month["trend"][0]["date"] == day.replace(day=1).isoformat()


def test_period_bounds_month_end_and_year_end(hub: Hub) -> None:
    assert reliability.period_bounds("month", dt.date(2024, 2, 29), hub.tz) == (dt.date(2024, 2, 1), dt.date(2024, 3, 1))
    assert reliability.period_bounds("month", dt.date(2025, 12, 31), hub.tz) == (dt.date(2025, 12, 1),
                                                                                 dt.date(2026, 1, 1))
    assert reliability.period_bounds("week", dt.date(2026, 1, 1), hub.tz) == (dt.date(2025, 12, 29),
                                                                              dt.date(2026, 1, 5))


def test_open_ticket_counts_downtime_until_now_and_no_mttr(hub: Hub, clock: ManualClock) -> None:
    start = _day_start(hub)
    clock.set(start + 3600)
    Feeder(hub).record("kiosk-03", "event", {"event": "card_jam"})
    clock.set(start + 3 * 3600)
    day = dt.datetime.fromtimestamp(start, hub.tz).date()
    r = reliability.report(hub.db, hub.rules.settings, _devices(hub), hub.tz, clock.now(), "day", day)
    dev = next(d for d in r["devices"] if d["id"] == "kiosk-03")
    assert (dev["failures"], dev["downtime_s"], dev["mttr_s"], dev["mtbf_s"]) == (1, 7200.0, None, 3600.0)


def test_fault_rate_high_raises_above_the_configured_target_and_clears_next_day(hub: Hub, clock: ManualClock) -> None:
    start = _known_sequence(hub, clock)
    kiosks = sum(1 for k in _devices(hub).values() if k == "kiosk")
    settings = {"rules": {"fault_rate_high": {"target": 2 / kiosks}}}  # exactly at the target: no alarm
    hub.set_rules(settings, "test")
    hub.check_fault_rate()
    assert open_alarms(hub, "fault_rate_high") == []
    hub.set_rules({"rules": {"fault_rate_high": {"target": 1 / kiosks}}}, "test")
    hub.check_fault_rate()
    hub.check_fault_rate()  # once, not once a call
    [a] = open_alarms(hub, "fault_rate_high")
    assert (a["source"], a["kind"], a["device_id"]) == ("fault_rate:kiosk", "kiosk", "")
    assert a["detail"]["faulted"] == 2 and a["detail"]["devices"] == kiosks
    assert kpis.compute(hub)["fault_rate_target"] == 1 / kiosks
    clock.set(start + 86400 + 60)  # a new local day starts at zero
    hub.check_fault_rate()
    assert open_alarms(hub, "fault_rate_high") == []


def test_every_device_offline_at_once_is_an_outage_not_device_faults(hub: Hub, clock: ManualClock) -> None:
    """The simulator killed (make run's launcher restarts it) or the hospital's network down: every device
    goes offline within a minute or two. Their devices did not fail: no fault rate, no failures, no
    fault_rate_high; the same kiosk going offline alone later is a fault again."""
    start = _day_start(hub)
    f = Feeder(hub)
    devices = sorted(_devices(hub))
    clock.set(start + 9 * 3600)
    for i, dev in enumerate(devices):  # spread over ~90 s, as the edge notices the serial ones later
        clock.set(start + 9 * 3600 + i * 90 / len(devices))
        f.record(dev, "status", {"state": "offline"})
    assert len(open_alarms(hub, "device_offline")) == len(devices)
    clock.set(start + 9 * 3600 + 300)
    for dev in devices:
        f.record(dev, "status", {"state": "online"})
    assert open_alarms(hub, "device_offline") == []  # the alarms themselves are kept, for people to see
    hub.check_fault_rate()
    assert open_alarms(hub, "fault_rate_high") == []
    day = dt.datetime.fromtimestamp(start, hub.tz).date()
    r = reliability.report(hub.db, hub.rules.settings, _devices(hub), hub.tz, clock.now(), "day", day)
    assert (r["fault_rate"], r["failures"]) == (0.0, 0)
    assert kpis.compute(hub, day)["fault_rate_by_kind"]["kiosk"] == 0.0
    # One kiosk alone, an hour later: a device fault.
    clock.set(start + 10 * 3600)
    f.record("kiosk-04", "status", {"state": "offline"})
    hub.check_fault_rate()
    [a] = open_alarms(hub, "fault_rate_high")
    assert (a["source"], a["detail"]["faulted"]) == ("fault_rate:kiosk", 1)
    r = reliability.report(hub.db, hub.rules.settings, _devices(hub), hub.tz, clock.now(), "day", day)
    assert r["failures"] == 1 and r["by_kind"]["kiosk"]["faulted"] == 1


def test_target_must_be_a_share(hub: Hub) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        hub.set_rules({"rules": {"fault_rate_high": {"target": 5}}}, "test")


def test_reliability_route_answers_and_refuses_bad_queries(offline_cfg: Config, clock: ManualClock) -> None:
    from tests.hub.conftest import http
    from tests.hub.live import LiveHub

    hub = LiveHub(offline_cfg, clock).start()
    try:
        token = hub.login("monitor")
        status, body = http(hub.url + "/api/kpis/reliability?period=week&date=2025-11-26", token=token)
        assert status == 200 and (body["period"], body["from"], body["to"]) == ("week", "2025-11-24", "2025-11-30")
        assert body["target"] == 0.05 and "kiosk" in body["by_kind"]
        for query in ("period=year", "date=26/11/2025", "period="):
            status, body = http(hub.url + f"/api/kpis/reliability?{query}", token=token)
            assert (status, query) == (400 if query != "period=" else 200, query), body
        assert http(hub.url + "/api/kpis/reliability")[0] == 401
        assert http(hub.url + "/api/systems", token=token) == (200, [])  # nothing configured
    finally:
        hub.stop()
