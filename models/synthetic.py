"""Synthetic outpatient demand with daily and weekly seasonality, for tests and benchmark fallbacks.

Not a simulator of the hospital (that is firmware_sim): just a known, seeded process whose shape the
forecaster must find — morning peak, afternoon shoulder, quiet weekends, light holidays, Poisson noise
and a slowly wandering level — so tests can check accuracy against a baseline on data they control.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

from models.data import History


def daily_profile(freq_min: int) -> np.ndarray:
    """Relative arrival rate per bucket of a weekday: morning peak near 09:30, afternoon near 14:30."""
    hours = (np.arange(1440 // freq_min) * freq_min + freq_min / 2) / 60.0
    morning = np.exp(-0.5 * ((hours - 9.5) / 1.3) ** 2)
    afternoon = 0.6 * np.exp(-0.5 * ((hours - 14.5) / 1.5) ** 2)
    night = 0.04
    return morning + afternoon + night


def synthetic_history(weeks: int = 8, freq_min: int = 15, zones: dict[str, float] | None = None, seed: int = 0,
                      timezone: str = "Asia/Shanghai", start: dt.date = dt.date(2026, 1, 5),
                      holidays: tuple[str, ...] = (), stay_buckets: int = 3) -> History:
    """History of ``arrivals`` (Poisson counts) and ``occupancy`` (people present) per zone.

    ``zones`` maps zone id -> peak arrivals per bucket. ``start`` should be a Monday.
    """
    zones = zones or {"reg_hall": 40.0, "lab": 20.0, "paed": 8.0}
    rng = np.random.default_rng(seed)
    tz = ZoneInfo(timezone)
    day = 1440 // freq_min
    n = weeks * 7 * day
    start_s = int(dt.datetime(start.year, start.month, start.day, tzinfo=tz).timestamp())
    profile = np.tile(daily_profile(freq_min), weeks * 7)
    days = np.repeat(np.arange(weeks * 7), day)
    weekday = np.array([(start + dt.timedelta(days=int(d))).weekday() for d in range(weeks * 7)])[days]
    week_factor = np.select([weekday == 5, weekday == 6, weekday == 0], [0.45, 0.3, 1.15], 1.0)
    hol = {dt.date.fromisoformat(h) for h in holidays}
    hol_factor = np.array([0.25 if start + dt.timedelta(days=int(d)) in hol else 1.0 for d in range(weeks * 7)])[days]
    arrivals = np.empty((len(zones), n))
    occupancy = np.empty((len(zones), n))
    for i, peak in enumerate(zones.values()):
        # A level that wanders a little from week to week, as real demand does.
        level = np.exp(np.cumsum(rng.normal(0, 0.01, weeks * 7)))[days]
        rate = peak * profile * week_factor * hol_factor * level
        arrivals[i] = rng.poisson(rate)
        kernel = np.ones(stay_buckets)
        present = np.convolve(arrivals[i], kernel)[:n]
        occupancy[i] = np.maximum(0.0, present + rng.normal(0, 0.05 * peak, n))
    return History(start_s, freq_min, timezone, tuple(zones), {"arrivals": arrivals, "occupancy": occupancy})
