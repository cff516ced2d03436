"""Reports (hub.reports, issue #16 item 7) on a ManualClock: period bounds at week, month, quarter and year
edges in site time (Asia/Shanghai, and Europe/Berlin across its daylight-saving change), and a month's days
and totals from known events, which agree with the per-day KPI routes."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest

from floorops.config import Config
from hub import kpis, reports
from hub.clock import ManualClock
from tests.hub.helpers import Feeder, make_hub, open_alarms

D = dt.date


@pytest.mark.parametrize(("period", "day", "first", "last"), [
    ("day", D(2026, 3, 1), D(2026, 3, 1), D(2026, 3, 1)),
    ("week", D(2026, 1, 1), D(2025, 12, 29), D(2026, 1, 4)),     # ISO week 1 of 2026 starts in 2025
    ("week", D(2026, 11, 30), D(2026, 11, 30), D(2026, 12, 6)),  # a Monday is its week's first day
    ("week", D(2026, 12, 6), D(2026, 11, 30), D(2026, 12, 6)),   # a Sunday its last
    ("month", D(2028, 2, 15), D(2028, 2, 1), D(2028, 2, 29)),    # leap year
    ("month", D(2026, 12, 31), D(2026, 12, 1), D(2026, 12, 31)),
    ("quarter", D(2026, 1, 1), D(2026, 1, 1), D(2026, 3, 31)),
    ("quarter", D(2026, 6, 30), D(2026, 4, 1), D(2026, 6, 30)),
    ("quarter", D(2026, 11, 15), D(2026, 10, 1), D(2026, 12, 31)),  # Q4 ends with the year
])
def test_period_bounds(period: str, day: dt.date, first: dt.date, last: dt.date) -> None:
    start, after = reports.bounds(period, day)
    assert (start, after - dt.timedelta(days=1)) == (first, last)


def test_local_days_in_a_zone_without_and_with_daylight_saving() -> None:
    shanghai, berlin = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")
    lengths = {z: [reports.epoch(d + dt.timedelta(days=1), z) - reports.epoch(d, z)
                   for d in (D(2026, 3, 29), D(2026, 10, 25), D(2026, 6, 1))] for z in (shanghai, berlin)}
    assert lengths[shanghai] == [86400, 86400, 86400]
    assert lengths[berlin] == [23 * 3600, 25 * 3600, 86400]
    # the month of March in Berlin starts at local midnight, 23:00 UTC the day before
    assert reports.epoch(D(2026, 3, 1), berlin) == dt.datetime(2026, 2, 28, 23, tzinfo=dt.timezone.utc).timestamp()


@pytest.mark.parametrize(("period", "date", "lang", "message"), [
    ("year", None, None, "period must be one of day, week, month, quarter"),
    ("month", "2026-13-01", None, "date must be YYYY-MM-DD"),
    ("month", "yesterday", None, "date must be YYYY-MM-DD"),
    ("month", "0999-12-31", None, "between the years 1000 and 2999"),
    ("month", "", None, "date must be YYYY-MM-DD"),
    ("month", "20251124", None, "date must be YYYY-MM-DD"),
    ("", None, None, "period must be one of"),
    ("month", None, "", "lang must be one of"),
    ("month", None, "fr", "lang must be one of en, zh"),
])
def test_bad_parameters_are_named(period: str, date: str | None, lang: str | None, message: str) -> None:
    with pytest.raises(reports.ReportError, match=message):
        reports.parse_params(period, date, lang, D(2026, 12, 5))


def test_defaults_are_today_as_a_day_in_english() -> None:
    assert reports.parse_params(None, None, None, D(2026, 12, 5)) == ("day", D(2026, 12, 5), "en")


@pytest.fixture
def hub(offline_cfg: Config, clock: ManualClock):
    h = make_hub(offline_cfg, clock)
    yield h
    h.db.close()


def act(hub, fn, *args):
    with hub.unit_of_work():
        return fn(*args)


def _queue_day(hub, f: Feeder, clock: ManualClock, prefix: str, waits_min: list[int]) -> None:
    """Tickets of REG-1 (target 25 min) issued together, called after the given waits."""
    screen = next(d.id for d in hub.site.devices if d.queue == "REG-1")
    for n, _ in enumerate(waits_min):
        f.record(screen, "event", {"event": "ticket_issued", "queue": "REG-1", "ticket": f"{prefix}{n}"})
    t0 = clock.now()
    for n, w in enumerate(waits_min):
        clock.set(t0 + w * 60)
        f.record(screen, "event", {"event": "ticket_called", "queue": "REG-1", "ticket": f"{prefix}{n}"})


def test_a_month_from_known_events(hub, clock: ManualClock) -> None:
    """Monday 2025-11-24 10:00 Shanghai: two days of queue tickets, a kiosk fault repaired, a request."""
    settings = hub.rules.settings
    settings["rules"]["device_offline"]["enabled"] = False  # hours pass here with the devices silent
    hub.set_rules(settings, "admin")
    f = Feeder(hub)
    _queue_day(hub, f, clock, "A", [10, 20, 30, 40])         # Monday: 2 of 4 within 25 min
    f.record("kiosk-01", "event", {"event": "card_jam"})      # a fault, its ticket
    [alarm] = open_alarms(hub, "card_jam")
    clock.advance(600)
    act(hub, hub.alarms.acknowledge, alarm["id"], "mon")
    [t] = hub.tickets.list()
    act(hub, hub.tickets.accept, t["id"], "maintenance")
    clock.advance(1200)
    act(hub, hub.tickets.resolve, t["id"], "maintenance", "repaired")  # 30 min after opening
    with hub.unit_of_work():
        hub.requests.raise_request("complaint", "reg_hall", "console", "desk", "wait_time", "too long")
    clock.set(reports.epoch(D(2025, 11, 25), hub.tz) + 9 * 3600)  # Tuesday 09:00
    _queue_day(hub, f, clock, "B", [5, 10])                   # Tuesday: 2 of 2 within target
    clock.advance(3600)

    month = reports.build_now(hub, "month", D(2025, 11, 25))
    assert (month["period"], month["from"], month["to"]) == ("month", "2025-11-01", "2025-11-30")
    days = {r["date"]: r for r in month["days"]}
    assert list(days)[0] == "2025-11-01" and list(days)[-1] == "2025-11-25"  # no day after today
    mon, tue = days["2025-11-24"], days["2025-11-25"]
    assert (mon["visits"], mon["called"], mon["within_target"], mon["service_level"]) == (4, 4, 2, 0.5)
    assert (tue["visits"], tue["service_level"], tue["avg_wait_s"]) == (2, 1.0, 450.0)
    assert (mon["tickets_opened"], mon["tickets_closed"], mon["mttr_s"], mon["mtta_s"]) == (1, 1, 1800.0, 600.0)
    assert mon["requests_by_kind"]["complaint"] == 1 and mon["requests"] == 1
    assert days["2025-11-20"]["visits"] == 0 and days["2025-11-20"]["service_level"] is None
    # each day agrees with the one-day KPIs of the same date
    assert mon["fault_rate"] == kpis.compute(hub, D(2025, 11, 24))["fault_rate"] > 0
    assert tue["fault_rate"] == 0.0
    total = month["totals"]
    assert (total["visits"], total["called"], total["within_target"]) == (6, 6, 4)
    assert total["service_level"] == round(4 / 6, 4)
    assert total["avg_wait_s"] == round((25 * 60 * 4 + 450 * 2) / 6, 1)
    assert total["tickets_opened"] == 1 and total["mttr_s"] == 1800.0
    assert total["fault_rate"] == mon["fault_rate"]  # one kiosk faulted in the month: the same share
    assert total["requests_by_kind"]["complaint"] == 1
    assert month["targets"]["fault_rate"] == 0.05

    rows = list(csv.reader(io.StringIO(reports.to_csv(month, "en").decode("utf-8-sig"))))
    assert rows[0][0] == "Date" and rows[0][3] == "Service level (called within target)"
    assert len(rows) == 1 + 25 + 1 and rows[-1][0] == "Period 2025-11-01..2025-11-30"
    by_date = {r[0]: r for r in rows[1:]}
    assert by_date["2025-11-24"][1:4] == ["4", "4", "0.5"]
    zh = reports.to_csv(month, "zh")
    assert zh.startswith(b"\xef\xbb\xbf") and "服务达标率".encode() in zh

    page = reports.to_html(month, "zh", "/api/reports.csv?period=month")
    assert "月报" in page and 'id="chart-service-level"' in page and 'id="chart-fault-rate"' in page
    assert "<polyline" in page and page.count('class="bar') >= 25 and " style=" not in page  # CSP: no inline style


def test_a_week_across_two_months_and_an_empty_future_period(hub, clock: ManualClock) -> None:
    week = reports.build_now(hub, "week", D(2025, 11, 30))
    assert (week["from"], week["to"]) == ("2025-11-24", "2025-11-30")
    assert [r["date"] for r in week["days"]] == ["2025-11-24"]  # today is Monday
    quarter = reports.build_now(hub, "quarter", D(2026, 2, 1))
    assert quarter["days"] == [] and quarter["totals"]["service_level"] is None
    assert "has not started" in reports.to_html(quarter, "en", "/x")


def test_satisfaction_and_wheelchairs_by_day_in_the_report(hub, clock: ManualClock) -> None:
    """Monday 2025-11-24: four presses (100, 75, 50, 0: a score of 56.2) and chairs taken at 08:00 and 09:00
    with 2 then 3 charged at least; Tuesday: one press of 100. The period's score is the mean of all five
    presses (65), not of the days' scores."""
    from hub import satisfaction, wheelchairs

    monday = reports.epoch(D(2025, 11, 24), hub.tz)
    with hub.unit_of_work():
        for button in ("very_satisfied", "satisfied", "neutral", "very_dissatisfied"):
            satisfaction.record(hub.db, hub.tz, "reg_hall", "sat-01", button, monday + 9 * 3600)
        satisfaction.record(hub.db, hub.tz, "pharmacy", "sat-02", "very_satisfied", monday + 86400 + 9 * 3600)
        wheelchairs.record(hub.db, hub.tz, "charger-01", "entrance", monday + 8 * 3600, 3, 0, 2)
        wheelchairs.record(hub.db, hub.tz, "charger-01", "entrance", monday + 9 * 3600, 2, 1, 3)
    clock.set(monday + 86400 + 10 * 3600)
    month = reports.build_now(hub, "month", D(2025, 11, 25))
    days = {r["date"]: r for r in month["days"]}
    mon, tue = days["2025-11-24"], days["2025-11-25"]
    assert (mon["satisfaction"], mon["satisfaction_ratings"]) == (56.2, 4)
    assert (tue["satisfaction"], tue["satisfaction_ratings"]) == (100.0, 1)
    assert days["2025-11-20"]["satisfaction"] is None
    assert (month["totals"]["satisfaction"], month["totals"]["satisfaction_ratings"]) == (65.0, 5)
    assert (mon["wheelchair_demand"], mon["wheelchair_supply_min"]) == (5, 2)
    assert month["targets"]["satisfaction"] == 80.0

    rows = list(csv.reader(io.StringIO(reports.to_csv(month, "en").decode("utf-8-sig"))))
    col = rows[0].index("Satisfaction score (0-100)")
    assert {r[0]: r for r in rows}["2025-11-24"][col] == "56.2" and rows[-1][col] == "65.0"
    assert "满意度评分(0-100)".encode() in reports.to_csv(month, "zh")

    page = reports.to_html(month, "zh", "/x")
    assert 'id="chart-satisfaction"' in page and 'id="chart-wheelchairs"' in page
    chairs = page[page.index('id="chart-wheelchairs"'):]
    chairs = chairs[:chairs.index("</svg>")]
    assert chairs.count('<rect class="bar"') == 25 and 'class="supply"' in chairs
    # by day: a figure a row, at most 16 days a table (25 days: two tables)
    assert page.count('<table class="days">') == 2 and page.count("<time datetime=") == 25
    assert "<tr><th>满意度评分(0-100)</th><td>" in page
