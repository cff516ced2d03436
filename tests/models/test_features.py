"""Leakage checks: nothing after the origin reaches a feature, whatever the horizon."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

from models.features import FEATURE_NAMES, holiday_ordinals, make_calendar, make_features, weekly_cell
from models.forecaster import QuantileForecaster
from models.synthetic import synthetic_history

FREQ = 60  # hourly buckets keep the arrays small: a day is 24, a week 168


def _rows(n_keys: int, origins: np.ndarray, horizons: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    key = np.repeat(np.arange(n_keys), len(origins) * len(horizons))
    origin = np.tile(np.repeat(origins, len(horizons)), n_keys)
    target = origin + np.tile(horizons, n_keys * len(origins))
    return key, origin, target


def test_changing_the_future_changes_no_feature() -> None:
    rng = np.random.default_rng(1)
    y = rng.poisson(5, size=(3, 24 * 7 * 14)).astype(float)
    y[1, 500:530] = np.nan  # gaps must not matter either
    cal = make_calendar(0, FREQ, y.shape[1] + 200, "UTC", frozenset())
    for origin in (30, 24 * 7 * 5, 24 * 7 * 13 - 5):
        key, o, t = _rows(3, np.array([origin]), np.arange(1, 24 * 9))
        before = make_features(y, cal, key, o, t, FREQ)
        future = y.copy()
        future[:, origin + 1:] = rng.poisson(50, size=future[:, origin + 1:].shape)
        after = make_features(future, cal, key, o, t, FREQ)
        np.testing.assert_array_equal(before, after)  # NaN == NaN here


def test_seasonal_lags_respect_the_horizon() -> None:
    y = np.arange(24 * 7 * 4, dtype=float)[None, :]  # the value is its own index
    cal = make_calendar(0, FREQ, y.shape[1] + 400, "UTC", frozenset())
    origin = 24 * 7 * 3
    key, o, t = _rows(1, np.array([origin]), np.array([1, 24, 25, 168, 169, 200]))
    X = make_features(y, cal, key, o, t, FREQ)
    col = {name: X[:, i] for i, name in enumerate(FEATURE_NAMES)}
    # One day back is known for horizons up to a day, unknown beyond.
    np.testing.assert_array_equal(col["lag_day"][:2], t[:2] - 24)
    assert np.isnan(col["lag_day"][2:]).all()
    # One week back is known up to a week ahead.
    np.testing.assert_array_equal(col["lag_week"][:4], t[:4] - 168)
    assert np.isnan(col["lag_week"][4:]).all()
    # Origin statistics are the same for every horizon and end at the origin.
    assert (col["last"] == origin).all()
    assert (col["mean_last_hour"] == origin).all()  # an hour of hourly buckets is the origin itself
    assert (col["mean_last_day"] == np.mean(np.arange(origin - 23, origin + 1))).all()
    assert (col["horizon"] == t - o).all()


def test_calendar_is_local_with_holiday_flags() -> None:
    tz = "Asia/Shanghai"
    start = int(dt.datetime(2026, 9, 30, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp())
    cal = make_calendar(start, 15, 96 * 3, tz, holiday_ordinals(["2026-10-01"]))
    assert cal.slot[0] == 0 and cal.slot[95] == 95 and cal.slot[96] == 0
    assert cal.dow[0] == 2  # 2026-09-30 is a Wednesday
    assert cal.before_holiday[0] == 1 and cal.holiday[0] == 0
    assert cal.holiday[96] == 1 and cal.holiday[95] == 0
    assert cal.after_holiday[192] == 1


def test_prediction_reads_nothing_after_the_origin() -> None:
    hist = synthetic_history(weeks=4, freq_min=60, seed=3)
    model = QuantileForecaster("arrivals", max_iter=30, max_rows=5000).fit(hist.slice(24 * 21))
    origin = 24 * 24 - 1
    full = model.predict(hist, origin, 30).values
    cut = model.predict(hist.slice(origin + 1), origin, 30).values
    np.testing.assert_allclose(full, cut)
    assert (np.diff(full, axis=2) >= 0).all()  # p10 <= p50 <= p90


def test_a_holiday_takes_the_sunday_profile() -> None:
    """A Wednesday holiday: its profile cell is Sunday's, so a model that has seen a single holiday in
    training still forecasts a Sunday-like day, not an ordinary Wednesday."""
    tz = "Asia/Shanghai"
    hols = ("2026-01-28", "2026-02-25")  # Wednesdays: one in training, one to forecast
    hist = synthetic_history(weeks=8, freq_min=60, seed=9, timezone=tz, holidays=hols, zones={"lab": 30.0})
    cal = make_calendar(hist.start_s, FREQ, hist.n_steps, tz, holiday_ordinals(hols))
    holiday = hist.index_of(dt.datetime(2026, 2, 25, 10, tzinfo=ZoneInfo(tz)))
    assert weekly_cell(cal, FREQ, holiday_as=6)[holiday] == 6 * 24 + 10
    assert weekly_cell(cal, FREQ)[holiday] == 2 * 24 + 10
    origin = holiday - 11  # the midnight before
    actual = hist.series("arrivals", "lab")[origin + 1: origin + 25].sum()
    wednesday = hist.series("arrivals", "lab")[origin + 1 - 168: origin + 25 - 168].sum()
    assert actual < 0.4 * wednesday  # the day really is light
    train = hist.slice(origin + 1)
    kw = dict(max_iter=60, max_rows=8000, holidays=hols)
    sunday_like = QuantileForecaster("arrivals", **kw).fit(train).predict(hist, origin, 24).quantile(0.5).sum()
    own_weekday = QuantileForecaster("arrivals", holiday_as_weekday=None, **kw).fit(train).predict(
        hist, origin, 24).quantile(0.5).sum()
    assert abs(sunday_like - actual) < 0.25 * actual
    assert abs(sunday_like - actual) < abs(own_weekday - actual)
