"""load-history's wheelchair stations: each station's hours (chairs taken, returned, fewest charged) from the
simulator's own wheelchair model, so the hub's demand forecast has weeks of past from the first start."""

from __future__ import annotations

import collections
import datetime as dt

import numpy as np
import pytest

from firmware_sim.history import simulate_weeks
from firmware_sim.patients import WHEELCHAIR_SHARE
from firmware_sim.wheelchair_history import station_hours, wheelchair_lines
from floorops.site import Site

END = dt.date(2026, 11, 22)  # a Sunday


@pytest.fixture(scope="module")
def hist(demo_site: Site):
    return simulate_weeks(demo_site, 4, seed=5, end=END)


def not_after(site: Site) -> dt.datetime:
    return dt.datetime.combine(END + dt.timedelta(days=1), dt.time(), site.tz)


def test_demand_follows_the_door_and_the_hospitals_forty_a_day(hist, demo_site: Site) -> None:
    hours = list(station_hours(hist, 5, not_after(demo_site)))
    chargers = [d for d in demo_site.devices if d.kind == "charger"]
    assert len(hours) == 28 * 24 * len(chargers)  # every station, every hour of the four weeks
    by_day: collections.Counter[dt.date] = collections.Counter()
    by_hour = np.zeros(24)
    for h in hours:
        local = h.hour_start.astimezone(demo_site.tz)
        by_day[local.date()] += h.demand
        by_hour[local.hour] += h.demand
    weekdays = [n for day, n in by_day.items() if day.weekday() < 5]
    assert 30 <= np.mean(weekdays) <= 50  # 「日均需求量达40次」 on working days
    # The hour profile is the door's: outpatients per hour, times the share who borrow a chair.
    door = hist.outpatients.reshape(28, 24, -1).sum(axis=(0, 2)) * WHEELCHAIR_SHARE
    assert np.corrcoef(by_hour, door)[0, 1] > 0.9
    assert by_hour[9] > 10 * max(1.0, by_hour[2], by_hour[22])  # the morning peak, a quiet night
    # Chairs come back, and a station never holds more charged chairs than slots.
    assert 0.9 < sum(h.returned for h in hours) / sum(h.demand for h in hours) <= 1.0
    slots = {d.id: d.slots for d in chargers}
    assert all(0 <= h.supply_min <= slots[h.station] for h in hours)
    # At the morning peak the entrance's station is drawn down first (taken there first, as live).
    peak = [h for h in hours if h.hour_start.astimezone(demo_site.tz).hour == 10]
    entrance = np.mean([h.supply_min for h in peak if h.zone == "entrance"])
    assert entrance < np.mean([h.supply_min for h in peak if h.station == "charger-03"])


def test_same_seed_same_hours_and_nothing_after_now(hist, demo_site: Site) -> None:
    cut = dt.datetime.combine(END, dt.time(10, 0), demo_site.tz)
    a = list(wheelchair_lines(hist, "demo", cut, 5))
    assert a == list(wheelchair_lines(hist, "demo", cut, 5))
    assert a != list(wheelchair_lines(hist, "demo", cut, 6))
    last = max(int(ln.rsplit(" ", 1)[1]) for ln in a)
    assert last == int((cut - dt.timedelta(hours=1)).timestamp()) * 1_000_000_000
    assert a[0].startswith("wheelchair_hour,site=demo,station=")
