"""The forecaster: one gradient-boosting model per quantile, shared by every zone (or queue).

Why this shape: zones differ mostly in size, so each series is divided by its own mean level and one
model learns the common daily/weekly shape, holiday effect and recent-deviation correction from all of
them; a quantile loss per 10th/50th/90th percentile gives the band directly. Estimator style: the
constructor only stores parameters, ``fit`` learns (attributes ending in ``_``), ``predict`` is pure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from models.data import History
from models.features import (FEATURE_NAMES, KEY_COLUMN, WeeklyProfile, holiday_ordinals, make_calendar, make_features,
                             steps_per_day, weekly_cell)

Progress = Callable[[str], None]


@dataclass
class Forecast:
    """Quantile forecasts for consecutive buckets after an origin: ``values`` is (keys, steps, quantiles)."""

    target: str
    keys: tuple[str, ...]
    start_s: int  # UTC epoch seconds of the first forecast bucket
    freq_min: int
    quantiles: tuple[float, ...]
    values: np.ndarray

    def quantile(self, q: float) -> np.ndarray:
        """(keys, steps) array of one quantile."""
        return self.values[:, :, self.quantiles.index(q)]


_PROFILE = FEATURE_NAMES.index("profile")
_MEAN_4WEEK = FEATURE_NAMES.index("mean_4week")


def baseline(X: np.ndarray) -> np.ndarray:
    """What the trees correct: the long-run weekly profile, else the four-week mean, else zero.

    Why: trees approximate "about the profile" with many steps; learning the deviation from it instead
    lets every split go to what differs (holidays, recent trend, horizon).
    """
    base = X[:, _PROFILE]
    base = np.where(np.isnan(base), X[:, _MEAN_4WEEK], base)
    return np.where(np.isnan(base), 0.0, base)


class QuantileForecaster(BaseEstimator):
    """Forecasts one target (``arrivals``, ``occupancy`` ...) of every key of a :class:`History`."""

    def __init__(self, target: str = "arrivals", quantiles: tuple[float, ...] = (0.1, 0.5, 0.9),
                 max_horizon_hours: int = 48, max_rows: int = 200_000, max_iter: int = 300,
                 learning_rate: float = 0.08, max_leaf_nodes: int = 31, min_samples_leaf: int = 40,
                 holidays: tuple[str, ...] = (), holiday_as_weekday: int | None = 6, random_state: int = 0,
                 n_threads: int | None = 1) -> None:
        self.target = target
        self.quantiles = quantiles
        self.max_horizon_hours = max_horizon_hours
        self.max_rows = max_rows
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.holidays = holidays
        # Whose weekly profile a holiday starts from (Sunday by default): with a holiday or two a year in
        # the training data, the trees cannot learn a holiday's level alone; a Sunday they see every week.
        self.holiday_as_weekday = holiday_as_weekday
        self.random_state = random_state
        # One OpenMP thread by default: on a shared 2-core server, busy-waiting threads that lose their core
        # to the hub or influxd make training over ten times slower than a single thread.
        self.n_threads = n_threads

    # -- training -------------------------------------------------------------------------------------

    def _holiday_as(self) -> int | None:
        # Models saved before this parameter existed keep their holidays' own weekday.
        return getattr(self, "holiday_as_weekday", None)

    def _scaled(self, history: History) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the history matching the fitted keys, divided by each key's level; and their key ids."""
        idx = [self.keys_.index(k) for k in history.keys if k in self.keys_]
        rows = [history.keys.index(k) for k in history.keys if k in self.keys_]
        y = history.values[self.target][rows] / self.scale_[idx][:, None]
        return y, np.array(idx, dtype=np.int64)

    def fit(self, history: History, progress: Progress | None = None) -> "QuantileForecaster":
        """Learn from every bucket of ``history`` (hide the test period before calling, in a backtest)."""
        if self.target not in history.values:
            raise ValueError(f"the history has no {self.target!r} series")
        # Only series that have this target (zones have occupancy, queues do not): a key without any
        # observation would be forecast from nothing.
        history = history.select(k for i, k in enumerate(history.keys)
                                 if np.any(~np.isnan(history.values[self.target][i])))
        if not 0 < len(history.keys) <= 250:
            raise ValueError(f"between 1 and 250 series with {self.target!r} data per model")
        say = progress or (lambda _msg: None)
        t0 = time.monotonic()
        raw = history.values[self.target]
        levels = np.array([np.nanmean(r) if np.any(~np.isnan(r)) else 0.0 for r in raw])
        self.keys_ = tuple(history.keys)
        self.scale_ = np.where(levels > 1e-9, levels, 1.0)
        self.freq_min_ = history.freq_min
        self.feature_names_ = FEATURE_NAMES
        y = raw / self.scale_[:, None]
        n = y.shape[1]
        day = steps_per_day(history.freq_min)
        horizon = max(1, self.max_horizon_hours * 60 // history.freq_min)
        first_origin = min(day, n - 2)
        if n - 1 - first_origin < 1:
            raise ValueError("not enough history to train (need more than a day of buckets)")
        rng = np.random.default_rng(self.random_state)
        n_rows = int(min(self.max_rows, len(self.keys_) * (n - first_origin) * min(horizon, 16)))
        key = rng.integers(0, len(self.keys_), n_rows)
        origin = rng.integers(first_origin, n - 1, n_rows)
        target = origin + rng.integers(1, horizon + 1, n_rows)
        keep = target < n
        key, origin, target = key[keep], origin[keep], target[keep]
        yt = y[key, target]
        keep = ~np.isnan(yt)
        key, origin, target, yt = key[keep], origin[keep], target[keep], yt[keep]
        if len(yt) < 50:
            raise ValueError(f"only {len(yt)} usable training rows for {self.target!r}")
        cal = make_calendar(history.start_s, history.freq_min, n, history.timezone, holiday_ordinals(self.holidays))
        profile = WeeklyProfile(y, cal, history.freq_min, self._holiday_as())
        self.profile_ = profile.median()
        X = make_features(y, cal, key, origin, target, history.freq_min,
                          profile=profile.leave_one_week_out(key, target))
        base = baseline(X)
        # A feature no training row has (two weeks of history hold no "same slot two weeks earlier") teaches
        # the trees nothing, and scikit-learn's binning fails on a column without a single value: leave it
        # out, here and in predict. The trees then treat it as they treat any gap: unknown.
        observed = ~np.all(np.isnan(X), axis=0)
        self.used_features_ = tuple(name for name, seen in zip(FEATURE_NAMES, observed) if seen)
        X = X[:, observed]
        if len(self.used_features_) < len(FEATURE_NAMES):
            say(f"{self.target}: features never observed in this history, left out: "
                f"{', '.join(self.unused_features())}")
        say(f"{self.target}: {len(yt):,} training rows from {len(self.keys_)} series, "
            f"{n} buckets, features in {time.monotonic() - t0:.1f}s")
        categorical = np.zeros(X.shape[1], dtype=bool)
        categorical[self.used_features_.index("key")] = True
        self.estimators_ = []
        for i, q in enumerate(self.quantiles):
            t1 = time.monotonic()
            est = HistGradientBoostingRegressor(
                loss="quantile", quantile=q, max_iter=self.max_iter, learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
                categorical_features=categorical, early_stopping=True, validation_fraction=0.1,
                n_iter_no_change=15, random_state=self.random_state,
            )
            # Weighting by the series level makes the scaled loss equal the loss in people: big zones count.
            with threadpool_limits(self.n_threads):
                est.fit(X, yt - base, sample_weight=self.scale_[key])
            self.estimators_.append(est)
            say(f"{self.target}: quantile {q:g} fitted ({i + 1}/{len(self.quantiles)}, "
                f"{est.n_iter_} trees, {time.monotonic() - t1:.1f}s)")
        self.n_training_rows_ = int(len(yt))
        return self

    def unused_features(self) -> tuple[str, ...]:
        """Features the training history never had (too short for them): the trees do not read them."""
        used = getattr(self, "used_features_", FEATURE_NAMES)
        return tuple(name for name in FEATURE_NAMES if name not in used)

    def _feature_columns(self) -> list[int]:
        # Models saved before ``used_features_`` existed were trained on every feature.
        return [FEATURE_NAMES.index(name) for name in getattr(self, "used_features_", FEATURE_NAMES)]

    # -- forecasting ----------------------------------------------------------------------------------

    def predict(self, history: History, origin: int, steps: int) -> Forecast:
        """Forecast buckets ``origin+1 .. origin+steps`` of every fitted key present in ``history``.

        ``origin`` is the index of the last bucket treated as observed; nothing after it is read.
        """
        if history.freq_min != self.freq_min_:
            raise ValueError(f"model buckets are {self.freq_min_} min, history has {history.freq_min} min")
        if steps < 1:
            raise ValueError("steps must be at least 1")
        y, key_ids = self._scaled(history)
        if len(key_ids) == 0:
            raise ValueError("none of the model's series are in this history")
        n_keys = len(key_ids)
        rows_key = np.repeat(np.arange(n_keys), steps)
        origin_arr = np.full(n_keys * steps, origin, dtype=np.int64)
        target = origin_arr + np.tile(np.arange(1, steps + 1), n_keys)
        cal = make_calendar(history.start_s, history.freq_min, origin + steps + 1, history.timezone,
                            holiday_ordinals(self.holidays))
        model_key = key_ids[rows_key]  # the model's own key ids, not the history's row numbers
        X = make_features(y, cal, rows_key, origin_arr, target, history.freq_min,
                          profile=self.profile_[model_key,
                                                weekly_cell(cal, history.freq_min, self._holiday_as())[target]])
        X[:, KEY_COLUMN] = model_key  # the model's own key ids, not the history's row numbers
        used = self._feature_columns()
        # What training never had stays unknown here too: the baseline must not start reading the weekly
        # profile (or the four-week mean) that the trees learned to do without.
        X[:, [i for i in range(X.shape[1]) if i not in used]] = np.nan
        with threadpool_limits(self.n_threads):
            pred = np.column_stack([est.predict(X[:, used]) for est in self.estimators_]) + baseline(X)[:, None]
        pred = np.sort(pred, axis=1)  # quantiles never cross
        pred = np.clip(pred, 0.0, None) * self.scale_[key_ids][rows_key][:, None]
        return Forecast(
            target=self.target, keys=tuple(self.keys_[i] for i in key_ids),
            start_s=history.start_s + (origin + 1) * history.freq_s, freq_min=history.freq_min,
            quantiles=tuple(self.quantiles), values=pred.reshape(n_keys, steps, len(self.quantiles)),
        )
