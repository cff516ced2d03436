"""One training run: backtest each target on the newest weeks, then fit on everything and describe it.

Why backtest before the final fit: the scores saved beside a model must come from a model that never saw
the test weeks; the saved model itself then learns from all data (its lags read the newest weeks anyway).
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
import time
from typing import Any, Callable

import numpy as np
import sklearn
import skops

from models.backtest import backtest
from models.data import DataError, History, is_queue_key
from models.features import steps_per_day
from models.forecaster import QuantileForecaster
from models.store import SiteModel

Progress = Callable[[str], None]
log = logging.getLogger("models.training")

# Less than a week and some weekday has never been seen: the trees would give it the level of whichever
# day they split it with (a Monday forecast from a weekend). A week of data is what a model needs to know
# every weekday once (docs/forecasting.md, "Minimum history"); below it, training refuses.
MIN_HISTORY_DAYS = 7


class InsufficientHistory(DataError):
    """Too little history to train a model worth serving; nothing is saved, the previous model stays."""

    @classmethod
    def of(cls, days: float, source: str, span: str, min_days: float = MIN_HISTORY_DAYS) -> "InsufficientHistory":
        """The one-line refusal: how many days there are (over ``span``) and how many are needed."""
        return cls(f"{source or 'the history'} holds {days:.1f} days of data ({span}); training needs at least "
                   f"{min_days:g} days (every weekday once); nothing was saved")


def observed_days(history: History, key: str | None = None) -> float:
    """Days of data: buckets in which any target of ``key`` (or of any series) was observed, in days.

    Why buckets and not the date range: an InfluxDB that lost weeks still spans them.
    """
    rows = slice(None) if key is None else [history.keys.index(key)]
    seen = np.zeros(history.n_steps, dtype=bool)
    for values in history.values.values():
        seen |= np.any(~np.isnan(values[rows]), axis=0)
    return int(seen.sum()) / steps_per_day(history.freq_min)


def long_enough(history: History, source: str = "",
                min_days: float = MIN_HISTORY_DAYS) -> tuple[History, dict[str, float]]:
    """The series with at least ``min_days`` of data, and the days of each one left out.

    Raises :class:`InsufficientHistory` (one line: how many days there are, how many are needed) when the
    whole history is shorter. A series that is short on its own (a queue screen installed last week) is left
    out rather than forecast from a few days' level; the model has no forecast for it until it has a week.
    """
    days = observed_days(history)
    if days < min_days:
        first, last = history.date_range()
        raise InsufficientHistory.of(days, source, f"{first[:16]} .. {last[:16]}", min_days)
    short = {k: round(d, 2) for k in history.keys if (d := observed_days(history, k)) < min_days}
    if short:
        log.warning("series with too little data of their own left out of the model until they have more",
                    extra={"short_series": short, "min_days": min_days})
    if not short:
        return history, short
    kept = history.select(k for k in history.keys if k not in short)
    kept.rejected_rows, kept.notes = history.rejected_rows, history.notes
    return kept, short

# What the hub uses: occupancy for the floor forecast, arrivals for staffing and per queue; waiting once the
# history holds queues (what a queue screen shows), so a zones-only history trains two models, not three.
SERVED_TARGETS = ("arrivals", "occupancy")
QUEUE_TARGETS = ("arrivals", "waiting")


def served_targets(history: History) -> tuple[str, ...]:
    """The targets worth a model for this history: the served ones it has data for."""
    present = [t for t, v in history.values.items() if np.any(~np.isnan(v))]
    wanted = list(SERVED_TARGETS)
    queue_rows = [i for i, k in enumerate(history.keys) if is_queue_key(k)]
    for t in QUEUE_TARGETS:
        if t not in wanted and t in history.values and np.any(~np.isnan(history.values[t][queue_rows])):
            wanted.append(t)
    return tuple(t for t in wanted if t in present) or tuple(present)


def default_forecaster(target: str, holidays: tuple[str, ...], max_rows: int = 50_000) -> QuantileForecaster:
    """The one place the production hyper-parameters are chosen.

    50,000 rows and 150 trees at rate 0.15 keep a 26-week demo-site training (two targets, each backtested
    then refitted) under a minute on one core (60,000 took 57-64 s on a quiet machine); 150,000 rows and
    250 trees at 0.08 were ~1 point of MAE better and three times slower (docs/benchmarks.md).
    """
    return QuantileForecaster(target=target, holidays=holidays, max_rows=max_rows, max_iter=150,
                              learning_rate=0.15, max_horizon_hours=48)


def train_site_model(history: History, holidays: tuple[str, ...], targets: tuple[str, ...] | None = None,
                     test_days: int = 14, horizon_hours: int = 24, source: str = "",
                     progress: Progress | None = None, max_rows: int = 50_000) -> tuple[SiteModel, dict[str, Any]]:
    """Backtest (when the history is long enough) and fit one forecaster per target."""
    say = progress or (lambda _m: None)
    t0 = time.monotonic()
    history, short = long_enough(history, source)
    targets = targets or served_targets(history)
    day = steps_per_day(history.freq_min)
    horizon = max(1, horizon_hours * 60 // history.freq_min)
    # A fair backtest needs a week for the seasonal baseline and a week of training before the test days.
    can_backtest = test_days > 0 and history.n_steps >= (test_days + 14) * day
    forecasters: dict[str, QuantileForecaster] = {}
    scores: dict[str, Any] = {}
    for target in targets:
        if can_backtest:
            say(f"{target}: backtest on the last {test_days} days")
            res = backtest(history, default_forecaster(target, holidays, max_rows), horizon, test_days, progress=say)
            scores[target] = {k: v for k, v in res.scores.items() if k not in ("target",)}
            say(f"{target}: backtest MAE {res.scores['mae']:.3f} vs seasonal naive "
                f"{res.scores['seasonal_naive_mae']:.3f}, 80% band coverage {res.scores['coverage_80']:.1%}")
        say(f"{target}: fitting on all {history.n_steps} buckets")
        forecasters[target] = default_forecaster(target, holidays, max_rows).fit(history, progress=say)
    model = SiteModel(forecasters, history.freq_min, history.timezone)
    first, last = history.date_range()
    meta: dict[str, Any] = {
        "trained_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "train_range": [first, last],
        "freq_min": history.freq_min,
        "timezone": history.timezone,
        "keys": list(history.keys),
        "targets": list(forecasters),
        "source": source,
        "rejected_rows": history.rejected_rows,
        "history_days": round(observed_days(history), 2),
        "short_series": short,  # series left out: too little data of their own (days they have)
        "unused_features": {t: list(f.unused_features()) for t, f in forecasters.items()},
        "backtest": scores,
        "train_seconds": round(time.monotonic() - t0, 2),
        "versions": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__, "skops": skops.__version__},
    }
    return model, meta
