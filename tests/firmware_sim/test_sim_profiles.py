"""The patient-flow model's ground truth follows the hospital's daily and weekly rhythm, under a seed."""

from __future__ import annotations

import csv
import datetime as dt

import numpy as np
import pytest

from firmware_sim.history import simulate_days, simulate_weeks
from firmware_sim.profiles import DemandProfile
from floorops.site import Site

END = dt.date(2026, 11, 22)  # a Sunday: four whole weeks Monday..Sunday


@pytest.fixture(scope="module")
def month(demo_site: Site):
    return simulate_weeks(demo_site, 4, seed=7, end=END)


def daily_outpatients(hist) -> np.ndarray:
    return hist.outpatients.sum(axis=1)


def test_about_five_thousand_outpatients_on_a_weekday(month) -> None:
    weekdays = [i for i, d in enumerate(month.days) if d.weekday() in (1, 2, 3, 4) and d not in month.site.holidays]
    mean = daily_outpatients(month)[weekdays].mean()
    assert 4500 <= mean <= 5500


def test_morning_peak_between_eight_and_ten(month) -> None:
    weekdays = [i for i, d in enumerate(month.days) if d.weekday() < 5]
    door = month.outpatients[weekdays].reshape(len(weekdays), 24, 4).sum(axis=2).mean(axis=0)
    tickets = month.arrivals[weekdays].sum(axis=2).reshape(len(weekdays), 24, 4).sum(axis=2).mean(axis=0)
    for hourly in (door, tickets):
        assert int(np.argmax(hourly)) in (8, 9)
        # An afternoon bump: 14:00 busier than the lunch hour.
        assert hourly[14] > hourly[12] * 1.3


def test_arrivals_are_tickets_issued(month) -> None:
    """As the hub counts them for zone_stats: zones without a queue (the entrance hall) have none."""
    assert month.arrivals[:, :, month.zones.index("entrance")].sum() == 0
    assert month.arrivals[:, :, month.zones.index("reg_hall")].sum() > 0
    # Every outpatient and emergency takes a ticket or more on average (some only pass through).
    assert month.arrivals.sum() > 0.9 * month.outpatients.sum()


def test_monday_busiest_weekends_light(month) -> None:
    per_day = daily_outpatients(month)
    by_weekday = {w: per_day[[i for i, d in enumerate(month.days) if d.weekday() == w]].mean() for w in range(7)}
    assert by_weekday[0] == max(by_weekday.values())
    weekday_mean = np.mean([by_weekday[w] for w in range(5)])
    weekend_mean = np.mean([by_weekday[5], by_weekday[6]])
    assert 0.25 <= weekend_mean / weekday_mean <= 0.5


def test_night_trough(month) -> None:
    occ = month.occupancy.sum(axis=2)  # whole hospital, (days, buckets)
    night = occ[:, 3 * 4:5 * 4].mean()
    peak = occ[:, 8 * 4:12 * 4].max(axis=1).mean()
    assert night < 0.08 * peak
    assert night > 0  # the emergency department never closes
    er = month.occupancy[:, 3 * 4:5 * 4, month.zones.index("emergency")].mean()
    assert er > 1


def test_public_holiday_is_light(demo_site: Site) -> None:
    holiday = dt.date(2026, 10, 1)  # in the demo site's list, a Thursday
    ordinary = dt.date(2026, 10, 15)  # a Thursday
    assert holiday in demo_site.holidays
    hist = simulate_days(demo_site, [holiday, ordinary], seed=3)
    per_day = daily_outpatients(hist)
    assert per_day[0] < 0.4 * per_day[1]


def test_queues_drain_by_night(month) -> None:
    """Counters keep up over a day: nobody is still waiting at 02:00."""
    waiting = month.waiting[:, 2 * 4, :].sum(axis=1)
    assert waiting.max() <= 5


def test_same_seed_same_history_other_seed_differs(demo_site: Site) -> None:
    a = simulate_weeks(demo_site, 1, seed=11, end=END)
    b = simulate_weeks(demo_site, 1, seed=11, end=END)
    c = simulate_weeks(demo_site, 1, seed=12, end=END)
    assert np.array_equal(a.arrivals, b.arrivals) and np.array_equal(a.occupancy, b.occupancy)
    assert not np.array_equal(a.arrivals, c.arrivals)


def test_csv_rows_and_local_offset(demo_site: Site, tmp_path) -> None:
    hist = simulate_weeks(demo_site, 1, seed=1, end=END)
    out = tmp_path / "h.csv"
    n = hist.write_csv(out)
    rows = list(csv.DictReader(out.open()))
    assert n == len(rows) == 7 * 96 * len(demo_site.zones)
    assert list(rows[0]) == ["ts", "zone", "arrivals", "occupancy", "waiting"]
    first = dt.datetime.fromisoformat(rows[0]["ts"])
    assert first.utcoffset() == dt.timedelta(hours=8)  # Asia/Shanghai, local hours read directly
    assert (first.hour, first.minute) == (0, 0) and first.date() == END - dt.timedelta(days=6)
    last = dt.datetime.fromisoformat(rows[-1]["ts"])
    assert (last.hour, last.minute) == (23, 45)
    assert {r["zone"] for r in rows} == {z.id for z in demo_site.zones}
    assert all(int(r["arrivals"]) >= 0 and float(r["occupancy"]) >= 0 and int(r["waiting"]) >= 0 for r in rows[:2000])


def test_demand_profile_shape_is_normalised() -> None:
    d = DemandProfile(outpatients_per_weekday=1000)
    out, _ = d.rate_per_min(np.arange(24 * 60), [dt.date(2026, 11, 18)])  # a Wednesday
    assert out.sum() == pytest.approx(1000 * 0.97 / 0.9625, rel=1e-6)
