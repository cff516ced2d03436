"""Rolling-origin backtest against the seasonal-naive baseline (same slot one week earlier).

How: the model is fitted on everything before the first test day (it never sees a test target), then
forecasts ``horizon`` buckets from each local midnight of the last ``test_days`` days, reading the actual
history only up to each origin. With ``refit_every_days`` the model is refitted on everything before each
block of that many test days, as a hospital retraining it would be: a test period of months stays
affordable and still never trains on a bucket it is scored on. The baseline is scored on exactly the
same points.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from models.data import History
from models.features import holiday_ordinals, make_calendar, steps_per_day
from models.forecaster import QuantileForecaster

Progress = Callable[[str], None]


def mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(actual - predicted)))


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((actual - predicted) ** 2)))


def pinball_loss(actual: np.ndarray, predicted: np.ndarray, q: float) -> float:
    """Mean quantile loss: q*(y-p) above the forecast, (1-q)*(p-y) below it."""
    diff = actual - predicted
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def coverage(actual: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Share of actuals inside [low, high]."""
    return float(np.mean((actual >= low) & (actual <= high)))


def seasonal_naive(y: np.ndarray, origin: int, steps: int, season: int) -> np.ndarray:
    """Same slot one season earlier, stepping back whole seasons so nothing after ``origin`` is used."""
    h = np.arange(1, steps + 1)
    back = season * np.ceil(h / season).astype(np.int64)
    idx = origin + h - back
    out = np.full(y.shape[:-1] + (steps,), np.nan)
    ok = idx >= 0
    out[..., ok] = y[..., idx[ok]]
    return out


def midnight_origins(history: History, test_days: int, holidays: tuple[str, ...] = ()) -> list[int]:
    """Origins (last bucket before each local midnight) of the last ``test_days`` days of the history."""
    cal = make_calendar(history.start_s, history.freq_min, history.n_steps, history.timezone,
                        holiday_ordinals(holidays))
    midnights = np.flatnonzero(cal.slot == 0)
    midnights = midnights[midnights >= 1]
    if len(midnights) < test_days:
        raise ValueError(f"the history holds {len(midnights)} local midnights, fewer than {test_days} test days")
    return [int(m) - 1 for m in midnights[-test_days:]]


@dataclass
class BacktestResult:
    """Scores plus the forecasts themselves (for plots)."""

    scores: dict[str, Any]
    keys: tuple[str, ...]
    origins: list[int]
    start_s: int
    freq_min: int
    actual: list[np.ndarray] = field(default_factory=list)  # per origin: (keys, steps)
    forecast: list[np.ndarray] = field(default_factory=list)  # per origin: (keys, steps, quantiles)
    baseline: list[np.ndarray] = field(default_factory=list)  # per origin: (keys, steps), seasonal naive


def score(actual: np.ndarray, forecast: np.ndarray, baseline: np.ndarray,
          quantiles: tuple[float, ...]) -> dict[str, float]:
    """Accuracy of quantile forecasts and of the baseline on the points where both can be scored."""
    ok = ~np.isnan(actual) & ~np.isnan(baseline)
    if not ok.any():
        raise ValueError("no test point has both an actual and a seasonal-naive value")
    a, b = actual[ok], baseline[ok]
    f = forecast[ok]
    median = f[:, quantiles.index(0.5)]
    out = {
        "mae": mae(a, median),
        "rmse": rmse(a, median),
        "pinball": float(np.mean([pinball_loss(a, f[:, i], q) for i, q in enumerate(quantiles)])),
        "coverage_80": coverage(a, f[:, quantiles.index(0.1)], f[:, quantiles.index(0.9)]),
        "seasonal_naive_mae": mae(a, b),
        "seasonal_naive_rmse": rmse(a, b),
        "seasonal_naive_pinball": pinball_loss(a, b, 0.5),
        "n_points": int(ok.sum()),
    }
    out["mae_vs_seasonal_naive"] = out["mae"] / out["seasonal_naive_mae"] if out["seasonal_naive_mae"] else math.nan
    return out


def refit_blocks(origins: list[int], refit_every_days: int | None) -> list[list[int]]:
    """Consecutive blocks of daily origins, one model fit per block (one block when never refitting)."""
    if refit_every_days is None or refit_every_days >= len(origins):
        return [list(origins)]
    if refit_every_days < 1:
        raise ValueError("refit_every_days must be at least 1")
    return [list(origins[i:i + refit_every_days]) for i in range(0, len(origins), refit_every_days)]


def backtest(history: History, model: QuantileForecaster, horizon: int, test_days: int,
             progress: Progress | None = None, refit_every_days: int | None = None) -> BacktestResult:
    """Fit ``model`` on the history before the test period (again before each block of
    ``refit_every_days`` test days, if given), then forecast from each test midnight."""
    say = progress or (lambda _m: None)
    if horizon < 1 or test_days < 1:
        raise ValueError("horizon and test_days must be at least 1")
    origins = midnight_origins(history, test_days, model.holidays)
    first = origins[0] + 1
    week = 7 * steps_per_day(history.freq_min)
    if first < 2 * steps_per_day(history.freq_min):
        raise ValueError("too little history before the test period to train (need at least two days)")
    blocks = refit_blocks(origins, refit_every_days)
    say(f"training on {first} buckets before the test period, testing {len(origins)} origins x {horizon} buckets"
        + (f", refitting before each of {len(blocks)} blocks" if len(blocks) > 1 else ""))
    y = history.values[model.target]
    result = BacktestResult(scores={}, keys=history.keys, origins=origins, start_s=history.start_s,
                            freq_min=history.freq_min)
    actuals, forecasts, baselines = [], [], []
    fit_s = 0.0
    for b, block in enumerate(blocks):
        t0 = time.monotonic()
        model.fit(history.slice(block[0] + 1), progress=say)  # nothing from this block's test days
        fit_s += time.monotonic() - t0
        if len(blocks) > 1:
            say(f"block {b + 1}/{len(blocks)} fitted up to {history.time_of(block[0] + 1).date().isoformat()}")
        for o in block:
            fc = model.predict(history, o, horizon)
            rows = [history.keys.index(k) for k in fc.keys]
            act = np.full((len(rows), horizon), np.nan)
            stop = min(history.n_steps, o + 1 + horizon)
            act[:, : stop - o - 1] = y[rows, o + 1: stop]
            actuals.append(act)
            forecasts.append(fc.values)
            baselines.append(seasonal_naive(y[rows], o, horizon, week))
    result.actual, result.forecast, result.baseline = actuals, forecasts, baselines
    result.keys = fc.keys
    qs = tuple(model.quantiles)
    s: dict[str, Any] = score(np.concatenate([a.ravel() for a in actuals]),
              np.concatenate([f.reshape(-1, len(qs)) for f in forecasts]),
              np.concatenate([b.ravel() for b in baselines]), qs)
    s.update(target=model.target, horizon=horizon, test_days=test_days, n_origins=len(origins),
             freq_min=history.freq_min, fit_seconds=round(fit_s, 2), fits=len(blocks),
             train_range=[history.time_of(0).isoformat(), history.time_of(first).isoformat()],
             test_range=[history.time_of(first).isoformat(), history.time_of(min(history.n_steps,
                                                                               origins[-1] + 1 + horizon)).isoformat()])
    result.scores = s
    return result
