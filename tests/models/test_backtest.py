"""The backtest's metrics and baseline against hand-computed numbers, and the command line end to end."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.backtest import (backtest, coverage, mae, midnight_origins, pinball_loss, refit_blocks, rmse, score,
                             seasonal_naive)
from models.data import History
from models.forecaster import QuantileForecaster
from models.synthetic import synthetic_history


def test_metrics_by_hand() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([2.0, 2.0, 1.0, 4.0])
    assert mae(a, p) == pytest.approx((1 + 0 + 2 + 0) / 4)
    assert rmse(a, p) == pytest.approx(np.sqrt((1 + 0 + 4 + 0) / 4))
    # q = 0.9: under-forecast by 2 costs 0.9*2, over-forecast by 1 costs 0.1*1.
    assert pinball_loss(a, p, 0.9) == pytest.approx((0.1 * 1 + 0 + 0.9 * 2 + 0) / 4)
    assert coverage(a, np.array([0, 2, 3.5, 4]), np.array([1, 3, 4, 5])) == pytest.approx(3 / 4)


def test_seasonal_naive_by_hand() -> None:
    # Daily buckets: a week is 7 buckets; values are 10 * index.
    y = (np.arange(21) * 10.0)[None, :]
    # From origin 13, nine buckets ahead: same weekday a week earlier (6..12), then two weeks earlier.
    got = seasonal_naive(y, origin=13, steps=9, season=7)[0]
    np.testing.assert_array_equal(got, [70, 80, 90, 100, 110, 120, 130, 70, 80])


def test_backtest_scores_the_baseline_on_the_same_points() -> None:
    """A constant-profile series: the seasonal naive error is known exactly, whatever the model does."""
    days, tz = 28, "UTC"
    y = np.tile([1.0, 3.0, 5.0, 7.0], days)[None, :]  # 6-hour buckets
    y[0, -4:] = [2.0, 3.0, 5.0, 9.0]  # the last test day differs from a week before by 1 and 2
    hist = History(int(dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc).timestamp()), 360, tz, ("z",),
                   {"arrivals": y})
    assert midnight_origins(hist, 2) == [4 * 26 - 1, 4 * 27 - 1]
    model = QuantileForecaster("arrivals", max_iter=20, max_rows=2000, min_samples_leaf=5)
    res = backtest(hist, model, horizon=4, test_days=2)
    s = res.scores
    assert s["n_points"] == 8 and s["n_origins"] == 2
    assert s["seasonal_naive_mae"] == pytest.approx((1 + 2) / 8)
    assert s["seasonal_naive_rmse"] == pytest.approx(np.sqrt((1 + 4) / 8))
    # And the model's own MAE is what its saved forecasts give against the actuals.
    act = np.concatenate([a.ravel() for a in res.actual])
    med = np.concatenate([f[:, :, 1].ravel() for f in res.forecast])
    assert s["mae"] == pytest.approx(np.abs(act - med).mean())


def test_score_needs_a_scoreable_point() -> None:
    with pytest.raises(ValueError):
        score(np.array([np.nan]), np.zeros((1, 3)), np.array([1.0]), (0.1, 0.5, 0.9))


def test_beats_seasonal_naive_with_a_calibrated_band() -> None:
    """Noisy counts with a wandering level: the model must clearly beat last week's values."""
    hist = synthetic_history(weeks=8, freq_min=60, seed=5)
    model = QuantileForecaster("arrivals", max_iter=80, max_rows=20_000)
    s = backtest(hist, model, horizon=24, test_days=7).scores
    assert s["mae"] < 0.9 * s["seasonal_naive_mae"]
    assert 0.65 <= s["coverage_80"] <= 0.95
    assert s["pinball"] < s["seasonal_naive_pinball"]


def test_refit_blocks_cover_every_origin_once() -> None:
    origins = list(range(10))
    assert refit_blocks(origins, None) == [origins]
    assert refit_blocks(origins, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert refit_blocks(origins, 30) == [origins]
    with pytest.raises(ValueError):
        refit_blocks(origins, 0)


def test_periodic_refits_train_on_exactly_the_past_of_each_block() -> None:
    """Each block's forecasts equal those of a model fitted by hand on the history before that block:
    the refit sees the newest weeks (unlike one fit) and never a bucket it is scored on."""
    hist = synthetic_history(weeks=5, freq_min=60, seed=4, zones={"lab": 20.0, "paed": 6.0})
    params = dict(max_iter=15, max_rows=3000)
    res = backtest(hist, QuantileForecaster("arrivals", **params), horizon=24, test_days=4, refit_every_days=2)
    assert res.scores["fits"] == 2 and res.scores["n_origins"] == 4
    for block in (res.origins[:2], res.origins[2:]):
        by_hand = QuantileForecaster("arrivals", **params).fit(hist.slice(block[0] + 1))
        for o in block:
            i = res.origins.index(o)
            np.testing.assert_allclose(res.forecast[i], by_hand.predict(hist, o, 24).values)
    # The second block's model differs from a single fit before the test period (it learned two more days).
    single = backtest(hist, QuantileForecaster("arrivals", **params), horizon=24, test_days=4)
    assert single.scores["fits"] == 1
    assert not np.allclose(single.forecast[3], res.forecast[3])
    np.testing.assert_allclose(single.forecast[0], res.forecast[0])


def _write_csv(hist: History, path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "zone", "arrivals", "occupancy"])
        for i in range(hist.n_steps):
            ts = hist.time_of(i).isoformat()
            for k, zone in enumerate(hist.keys):
                w.writerow([ts, zone, int(hist.values["arrivals"][k, i]), f"{hist.values['occupancy'][k, i]:.2f}"])


def test_backtest_command_line_prints_json_and_draws_a_plot(tmp_path: Path) -> None:
    hist = synthetic_history(weeks=5, freq_min=60, seed=2, zones={"lab": 20.0, "paed": 6.0})
    src = tmp_path / "history.csv"
    _write_csv(hist, src)
    png = tmp_path / "plot.png"
    env = dict(os.environ, FLOOROPS_MODELS__MAX_ROWS="4000")  # a small, quick fit
    out = subprocess.run(
        [sys.executable, "-m", "models", "backtest", "--csv", str(src), "--time-col", "ts", "--value-col", "arrivals",
         "--freq", "1h", "--horizon", "24", "--test-days", "3", "--refit-every-days", "2", "--plot", str(png),
         "--no-site-holidays"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    for key in ("mae", "rmse", "coverage_80", "seasonal_naive_mae", "pinball"):
        assert isinstance(doc[key], float)
    assert doc["n_origins"] == 3 and doc["series"] == 1  # no --key-col: zones summed into one series
    assert doc["fits"] == 2  # refitted before the third test day
    assert "fitted" in out.stderr  # progress while training
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_backtest_command_line_rejects_a_missing_column(tmp_path: Path) -> None:
    src = tmp_path / "h.csv"
    src.write_text("ts,count\n2026-03-02T08:00:00+08:00,3\n")
    out = subprocess.run(
        [sys.executable, "-m", "models", "backtest", "--csv", str(src), "--time-col", "ts", "--value-col", "n",
         "--freq", "1h", "--horizon", "24", "--test-days", "3"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2 and out.stdout == ""
    assert "no column 'n'" in out.stderr and "Traceback" not in out.stderr
