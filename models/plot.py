"""PNG plots of forecasts, their 10th-90th percentile band and the actuals (matplotlib, Agg, no display)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402 - after matplotlib.use, which must come first
import matplotlib.pyplot as plt  # noqa: E402 - after matplotlib.use, which must come first
import numpy as np  # noqa: E402 - after matplotlib.use, which must come first

from models.backtest import BacktestResult  # noqa: E402 - after matplotlib.use, which must come first


def plot_backtest(result: BacktestResult, key: str, path: str | Path, timezone: str, title: str = "",
                  quantiles: tuple[float, ...] = (0.1, 0.5, 0.9), last_origins: int | None = None,
                  ylabel: str = "") -> Path:
    """One panel: each origin's forecast (median line, band) against what happened."""
    tz = ZoneInfo(timezone)
    k = result.keys.index(key)
    freq_s = result.freq_min * 60
    fig, ax = plt.subplots(figsize=(12, 4), dpi=110)
    lo, mid, hi = (quantiles.index(q) for q in (0.1, 0.5, 0.9))
    runs = list(zip(result.origins, result.actual, result.forecast))
    for i, (o, act, fc) in enumerate(runs[-last_origins:] if last_origins else runs):
        steps = act.shape[1]
        # Matplotlib date numbers: what its datetime unit converter would make of the datetimes, typed.
        times = mdates.date2num([dt.datetime.fromtimestamp(result.start_s + (o + 1 + j) * freq_s, tz)
                                 for j in range(steps)])
        first = i == 0
        ax.fill_between(times, fc[k, :, lo], fc[k, :, hi], color="tab:blue", alpha=0.22, linewidth=0,
                        label="10th-90th percentile" if first else None)
        ax.plot(times, fc[k, :, mid], color="tab:blue", linewidth=1.2, label="forecast (median)" if first else None)
        ax.plot(times, act[k], color="black", linewidth=0.8, label="actual" if first else None)
    ax.set_title(title or f"{key}: forecast from each midnight vs actual")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %m-%d", tz=tz))
    ax.set_ylim(bottom=0)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def busiest_key(result: BacktestResult) -> str:
    """The series with the most activity in the test period: the one worth showing."""
    totals = np.nansum(np.stack([a for a in result.actual]), axis=(0, 2))
    return result.keys[int(np.argmax(totals))]
