"""Forecast features: calendar of the target bucket, and lags/rolling statistics known at the origin.

The no-leakage rule lives here, in one place: a row forecasts bucket ``t`` from origin ``o`` (the last
observed bucket, ``t > o``), and every value read from the series has an index ``<= o``. A seasonal lag
that would fall after the origin (yesterday's same slot when forecasting two days ahead) is NaN, which
the gradient-boosting trees treat as "unknown" — so one model serves every horizon.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

FEATURE_NAMES = (
    "horizon",  # buckets ahead of the origin (1 = the bucket right after it)
    "slot",  # local bucket of the day of the target
    "dow",  # local weekday of the target, Monday = 0
    "holiday",  # the target's local day is a hospital holiday
    "before_holiday",  # the next day is a holiday
    "after_holiday",  # the previous day was a holiday
    "key",  # which series (zone or queue), categorical
    "lag_day",  # same slot one day earlier, if observed by the origin
    "lag_week",  # same slot one week earlier
    "lag_2week",  # same slot two weeks earlier
    "mean_4week",  # mean of the same slot over the last four weeks (observed ones)
    "lag_week_holiday",  # the day one week earlier was a holiday (its lag is not typical)
    "last",  # value of the origin bucket
    "mean_last_hour",  # mean of the last hour up to the origin
    "mean_last_day",  # mean of the last day up to the origin
    "change_vs_week_hour",  # last hour minus the same hour a week before: this week's deviation
    "change_vs_week_day",  # same over the last day
    "mean_4week_smooth",  # same slot and its two neighbours over four weeks: a low-noise weekly profile
    "median_12week",  # median of the same slot over twelve weeks: the long-run profile, robust to holidays
    "mean_7day",  # same slot over the last seven days (observed ones): the recent daily shape
    "profile",  # long-run median of this weekday and slot, learned at fit time (see WeeklyProfile)
)
KEY_COLUMN = FEATURE_NAMES.index("key")


@dataclass(frozen=True)
class Calendar:
    """Local calendar of consecutive buckets starting at ``start_s``."""

    slot: np.ndarray
    dow: np.ndarray
    holiday: np.ndarray
    before_holiday: np.ndarray
    after_holiday: np.ndarray


def make_calendar(start_s: int, freq_min: int, n: int, timezone: str, holidays: frozenset[int]) -> Calendar:
    """Calendar of ``n`` buckets; ``holidays`` are proleptic Gregorian ordinals of local dates."""
    tz = ZoneInfo(timezone)
    freq_s = freq_min * 60
    slot = np.empty(n, dtype=np.float64)
    dow = np.empty(n, dtype=np.float64)
    ordinal = np.empty(n, dtype=np.int64)
    # One conversion per bucket is cheap (weeks of 15-minute buckets take tens of milliseconds) and
    # right across daylight-saving changes.
    for i in range(n):
        t = dt.datetime.fromtimestamp(start_s + i * freq_s, tz)
        slot[i] = (t.hour * 60 + t.minute) // freq_min
        dow[i] = t.weekday()
        ordinal[i] = t.toordinal()
    hol = np.array(sorted(holidays), dtype=np.int64)
    return Calendar(
        slot=slot, dow=dow,
        holiday=np.isin(ordinal, hol).astype(np.float64),
        before_holiday=np.isin(ordinal + 1, hol).astype(np.float64),
        after_holiday=np.isin(ordinal - 1, hol).astype(np.float64),
    )


def holiday_ordinals(holidays: tuple[str, ...] | list[str]) -> frozenset[int]:
    return frozenset(dt.date.fromisoformat(str(h)).toordinal() for h in holidays)


def steps_per_day(freq_min: int) -> int:
    return 1440 // freq_min


def _rolling_sums(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative sums and counts of observed values, with a leading zero column: S[:, i] = sum y[:, :i]."""
    obs = ~np.isnan(y)
    s = np.zeros((y.shape[0], y.shape[1] + 1))
    c = np.zeros((y.shape[0], y.shape[1] + 1))
    np.cumsum(np.where(obs, y, 0.0), axis=1, out=s[:, 1:])
    np.cumsum(obs, axis=1, out=c[:, 1:])
    return s, c


def _mean_observed(stack: np.ndarray) -> np.ndarray:
    """Column means over the observed (non-NaN) entries; NaN where none is observed."""
    observed = np.sum(~np.isnan(stack), axis=0)
    total = np.nansum(stack, axis=0)
    return np.where(observed > 0, total / np.maximum(observed, 1), np.nan)


def make_features(y: np.ndarray, cal: Calendar, key: np.ndarray, origin: np.ndarray, target: np.ndarray,
                  freq_min: int, profile: np.ndarray | None = None) -> np.ndarray:
    """Feature matrix, one row per (key, origin, target) triple; see FEATURE_NAMES.

    ``y`` has shape (keys, buckets) and is the only series input; ``cal`` must cover every target index.
    """
    if np.any(target <= origin):
        raise ValueError("every target bucket must come after its origin")
    if np.any(origin >= y.shape[1]) or np.any(origin < 0):
        raise ValueError("origins must be observed buckets")
    day = steps_per_day(freq_min)
    week = 7 * day
    hour = max(1, 60 // freq_min)
    n = y.shape[1]

    def at(idx: np.ndarray) -> np.ndarray:
        # The leakage guard: anything after the origin (or before the table) reads as unknown.
        ok = (idx >= 0) & (idx <= origin) & (idx < n)
        return np.where(ok, y[key, np.clip(idx, 0, n - 1)], np.nan)

    n_cal = len(cal.holiday)
    target_holiday = cal.holiday[target]

    def same_kind(idx: np.ndarray, of: np.ndarray) -> np.ndarray:
        # A seasonal lag only counts from the same kind of day: last week's holiday says little about an
        # ordinary Tuesday (where seasonal naive fails worst), and an ordinary day little about a holiday.
        return cal.holiday[np.clip(idx, 0, n_cal - 1)] == of

    def lag(idx: np.ndarray) -> np.ndarray:
        return np.where(same_kind(idx, target_holiday), at(idx), np.nan)

    s, c = _rolling_sums(y)

    def mean_upto(end: np.ndarray, width: int) -> np.ndarray:
        # Mean of observed values in [end - width + 1, end]; callers only pass end <= origin.
        hi = np.clip(end + 1, 0, n)
        lo = np.clip(end + 1 - width, 0, n)
        count = c[key, hi] - c[key, lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, (s[key, hi] - s[key, lo]) / np.maximum(count, 1), np.nan)

    lags4 = np.stack([lag(target - k * week) for k in range(1, 5)])
    mean4 = _mean_observed(lags4)
    smooth4 = _mean_observed(np.stack([lag(target - k * week + j) for k in range(1, 5) for j in (-1, 0, 1)]))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (too little history) give NaN
        median12 = np.nanmedian(np.concatenate([lags4, np.stack([lag(target - k * week) for k in range(5, 13)])]),
                                axis=0)
    mean7d = _mean_observed(np.stack([lag(target - k * day) for k in range(1, 8)]))
    lag_week_idx = np.clip(target - week, 0, len(cal.holiday) - 1)
    last_hour = mean_upto(origin, hour)
    last_day = mean_upto(origin, day)
    # This week's deviation from last week, only when the two are the same kind of day.
    comparable = same_kind(origin - week, cal.holiday[origin])
    cols = [
        (target - origin).astype(np.float64),
        cal.slot[target], cal.dow[target], cal.holiday[target], cal.before_holiday[target], cal.after_holiday[target],
        key.astype(np.float64),
        lag(target - day), lags4[0], lags4[1], mean4,
        np.where(target - week >= 0, cal.holiday[lag_week_idx], np.nan),
        at(origin), last_hour, last_day,
        np.where(comparable, last_hour - mean_upto(origin - week, hour), np.nan),
        np.where(comparable, last_day - mean_upto(origin - week, day), np.nan),
        smooth4, median12, mean7d,
        np.full(len(target), np.nan) if profile is None else profile,
    ]
    return np.column_stack(cols)


def weekly_cell(cal: Calendar, freq_min: int, holiday_as: int | None = None) -> np.ndarray:
    """Index of (weekday, slot) of each bucket: 0 .. 7 * buckets_per_day - 1.

    ``holiday_as``: the weekday whose profile a holiday takes (a hospital's public holiday looks like its
    Sunday far more than like the weekday it falls on); None keeps the holiday's own weekday."""
    dow = cal.dow if holiday_as is None else np.where(cal.holiday == 1, holiday_as, cal.dow)
    return (dow * steps_per_day(freq_min) + cal.slot).astype(np.int64)


class WeeklyProfile:
    """Median of each series per weekday and slot over the training weeks, holidays left out.

    Why: the hospital's weekly pattern is its strongest signal, and a median over months is far less
    noisy than any single lag. It is learned at fit time from training data only. For training rows it
    is computed without the row's own week (leave-one-week-out), so the model learns how much to trust
    it on a week it has not seen — exactly the situation when forecasting.
    """

    def __init__(self, y: np.ndarray, cal: Calendar, freq_min: int, holiday_as: int | None = None) -> None:
        n = y.shape[1]
        cell = weekly_cell(cal, freq_min, holiday_as)[:n]  # holidays read their stand-in day's cell
        week = np.arange(n) // (7 * steps_per_day(freq_min))
        table = np.full((y.shape[0], 7 * steps_per_day(freq_min), int(week[-1]) + 1), np.nan)
        usable = cal.holiday[:n] == 0
        table[:, cell[usable], week[usable]] = y[:, usable]
        self.cell, self.week, self.table = cell, week, table

    def median(self) -> np.ndarray:
        """(series, cells) long-run medians."""
        return _nanmedian(self.table, axis=2)

    def leave_one_week_out(self, key: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Per row, the median of the target's cell over every training week but the target's own."""
        out = np.full(len(target), np.nan)
        cells, weeks = self.cell[target], self.week[target]
        for w in np.unique(weeks):
            rows = weeks == w
            masked = self.table.copy()
            masked[:, :, w] = np.nan
            out[rows] = _nanmedian(masked, axis=2)[key[rows], cells[rows]]
        return out


def _nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)
