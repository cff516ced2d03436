"""Forecasting and staffing benchmark: accuracy on the simulator's history, and the speed goals.

Run:  .venv/bin/python bench/forecast_bench.py [--weeks 26] [--seed 1] [--test-days 14] [--long-test-days 84]

1. ``python -m firmware_sim history --weeks W`` writes the ground truth (14 zones, 15-minute buckets).
2. Rolling-origin backtests (forecast a day from each local midnight) of arrivals and occupancy, in
   15-minute and in hourly buckets, on two test periods: the last D days (one fit before them) and the
   last L days (refitted every R days; with the defaults twelve weeks holding the site's holidays of
   2026-09-25 and 2026-10-01..07). Scored on the same points: FloorOps' forecaster, the seasonal-naive
   baseline, and an oracle that knows the simulator (bench/forecast_oracle.py: the median and band of
   many fresh simulations of each test day: the best any forecaster could do), overall and split into
   holidays / the week after a holiday / other days.
   A statistical peer on the same points of the D-day period: statsforecast MSTL (daily and weekly
   seasons, exponential-smoothing trend, eight weeks of input, 80% intervals) on every zone in hourly
   buckets, and on the three busiest zones in 15-minute buckets (about a minute per zone there). statsforecast is installed into
   the venv from bench/requirements-forecast.txt (benchmark only).
3. ``python -m models train --csv`` on the whole history: wall time of the process.
4. A real influxd holding five weeks of zone_stats: ForecastService forecasts every zone (first call and
   warm calls), and plans staff for every zone and hour of tomorrow.
Reference measured in the same run: a fixed HistGradientBoostingRegressor fit (machine speed).
Prints one JSON document; docs/benchmarks.md records it. Draws docs/img/forecast-<zone>.png.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from floorops.config import dump_toml, load_config
from floorops.influx import line, write_sync
from floorops.measurements import ZONE_STATS
from centre.services import InfluxServer, free_port
from floorops.site import load_site
from models.backtest import backtest, coverage, mae, rmse, score
from bench.forecast_oracle import day_kinds, oracle_forecasts, simulate_oracle
from models.data import History, read_csv
from models.plot import plot_backtest
from models.service import ForecastService
from models.staffing import handling_minutes, plan_day
from models.training import default_forecaster


def log(msg: str) -> None:
    print(f"[{dt.datetime.now(dt.timezone.utc):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def ensure_peer() -> None:
    if importlib.util.find_spec("statsforecast") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r",
                        str(REPO / "bench" / "requirements-forecast.txt")], check=True)


def reference_fit_seconds() -> float:
    """A fixed gradient-boosting fit: how fast this machine is right now."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50_000, 18))
    y = X[:, 0] * 2 + np.sin(X[:, 1]) + rng.normal(size=50_000)
    t = time.perf_counter()
    with threadpool_limits(1):
        HistGradientBoostingRegressor(max_iter=100, early_stopping=False, random_state=0).fit(X, y)
    return time.perf_counter() - t


def peer_backtest(hist: History, target: str, horizon: int, test_days: int, refit: bool | int = False) -> dict:
    """statsforecast MSTL (seasons: a day and a week; trend: simple exponential smoothing, AutoETS "ZNN") on
    the same test points."""
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS

    day = 1440 // hist.freq_min
    tz = hist.timezone
    times = pd.to_datetime([hist.start_s + i * hist.freq_s for i in range(hist.n_steps)], unit="s", utc=True)
    local = times.tz_convert(tz).tz_localize(None)
    frames = [pd.DataFrame({"unique_id": key, "ds": local, "y": hist.values[target][k]})
              for k, key in enumerate(hist.keys)]
    df = pd.concat(frames, ignore_index=True).fillna(0.0)
    model = MSTL(season_length=[day, 7 * day], trend_forecaster=AutoETS(model="ZNN"))
    sf = StatsForecast(models=[model], freq=f"{hist.freq_min}min", n_jobs=1)
    t = time.perf_counter()
    # Fitted on the data before the test period, then rolled forward over it (refit=False), or refitted
    # every ``refit`` origins: the same protocol as FloorOps' backtest.
    # Input: the newest eight weeks before each origin (MSTL on all 26 weeks takes minutes per zone here).
    cv = sf.cross_validation(df=df, h=horizon, step_size=day, n_windows=test_days, level=[80], refit=refit,
                             input_size=8 * 7 * day)
    seconds = time.perf_counter() - t
    a = cv["y"].to_numpy()
    p = np.clip(cv["MSTL"].to_numpy(), 0, None)
    return {"mae": mae(a, p), "rmse": rmse(a, p),
            "coverage_80": coverage(a, cv["MSTL-lo-80"].to_numpy(), cv["MSTL-hi-80"].to_numpy()),
            "n_points": int(len(a)), "seconds": round(seconds, 1),
            "first_test_point": str(cv["ds"].min()), "last_test_point": str(cv["ds"].max())}


def service_timings(csv_path: Path, models_dir: Path, site_file: str, work: Path) -> dict:
    """ForecastService against a real influxd holding the newest five weeks of zone_stats."""
    server = InfluxServer(data_dir=work / "influxdb", http_port=free_port(), rpc_port=free_port())
    server.start()
    try:
        db = "bench"
        server.query(f'CREATE DATABASE "{db}"', method="POST")
        site = load_site(site_file)
        hist = read_csv(csv_path, "ts", key_col="zone", timezone=site.timezone)
        first = hist.n_steps - 35 * 96
        lines = []
        for i in range(first, hist.n_steps):
            ts_ns = (hist.start_s + i * hist.freq_s) * 1_000_000_000
            for k, zone in enumerate(hist.keys):
                lines.append(line(ZONE_STATS, {"site": site.id, "zone": zone}, {
                    "arrivals": int(hist.values["arrivals"][k, i]), "occupancy": float(hist.values["occupancy"][k, i]),
                    "waiting": int(hist.values["waiting"][k, i])}, ts_ns))
        for j in range(0, len(lines), 20_000):
            write_sync(server.url, db, lines[j:j + 20_000])
        cfg = load_config(env={})
        cfg.var_dir = str(work)
        cfg.influx.url, cfg.influx.database = server.url, db
        cfg.models.dir = str(models_dir)
        svc = ForecastService(cfg, site)
        assert svc.load()
        now = dt.datetime.fromtimestamp(hist.end_s + 300, site.tz)  # five minutes into the next day
        t = time.perf_counter()
        out = svc.forecast(now, hours=24)
        cold = time.perf_counter() - t
        warm = []
        for _ in range(10):
            t = time.perf_counter()
            out = svc.forecast(now, hours=24)
            warm.append(time.perf_counter() - t)
        tomorrow = now.date() + dt.timedelta(days=1)
        plan_s = []
        for _ in range(5):
            t = time.perf_counter()
            rows = svc.staffing(tomorrow, now=now)
            plan_s.append(time.perf_counter() - t)
        # The Erlang part alone, from a ready forecast: every zone with queues x 24 hours.
        aht = handling_minutes(site)
        rng = np.random.default_rng(0)
        hourly = {z: rng.uniform(0, 400, 24) for z in aht}
        erlang_s = []
        for _ in range(20):
            t = time.perf_counter()
            plan = plan_day(hourly, {z: v * 1.3 for z, v in hourly.items()}, aht, svc.policy())
            erlang_s.append(time.perf_counter() - t)
        return {
            "zones_forecast": len(out), "buckets_per_zone": len(next(iter(out.values()))),
            "forecast_every_zone_first_call_s": round(cold, 3),
            "forecast_every_zone_warm_median_s": round(statistics.median(warm), 3),
            "forecast_every_zone_warm_max_s": round(max(warm), 3),
            "staffing_day_end_to_end_median_s": round(statistics.median(plan_s), 3),
            "staffing_rows": len(rows),
            "staffing_erlang_only_median_ms": round(statistics.median(erlang_s) * 1000, 2),
            "staffing_erlang_only_rows": len(plan),
        }
    finally:
        server.stop()


KINDS = {0: "other_days", 1: "week_after_holiday", 2: "holidays"}


def scored(actual: list[np.ndarray], forecast: list[np.ndarray], naive: list[np.ndarray], oracle: list[np.ndarray],
           mask: np.ndarray | None = None) -> dict:
    """FloorOps, seasonal naive and the oracle on exactly the same points (optionally a subset)."""
    a = np.concatenate([x.ravel() for x in actual])
    f = np.concatenate([x.reshape(-1, 3) for x in forecast])
    b = np.concatenate([x.ravel() for x in naive])
    o = np.concatenate([x.reshape(-1, 3) for x in oracle])
    a = np.where(np.isnan(o[:, 1]), np.nan, a)  # only points the oracle covers (all test days, normally)
    if mask is not None:
        a = np.where(mask, a, np.nan)
    ours = score(a, f, b, (0.1, 0.5, 0.9))
    best = score(a, o, b, (0.1, 0.5, 0.9))
    keep = ("mae", "rmse", "pinball", "coverage_80")
    return {
        "n_points": ours["n_points"],
        "floorops": {k: round(ours[k], 4) for k in keep},
        "seasonal_naive": {"mae": round(ours["seasonal_naive_mae"], 4), "rmse": round(ours["seasonal_naive_rmse"], 4)},
        "oracle": {k: round(best[k], 4) for k in keep},
        "floorops_mae_below_naive_pct": round(100 * (1 - ours["mae_vs_seasonal_naive"]), 1),
        "oracle_mae_below_naive_pct": round(100 * (1 - best["mae_vs_seasonal_naive"]), 1),
    }


def accuracy(csv_path: Path, site, holidays: tuple[str, ...], oracle_table, freq_min: int, target: str,
             test_days: int, refit_every_days: int | None) -> tuple[dict, object, History]:
    """One backtest of FloorOps against seasonal naive and the oracle, overall and per kind of day."""
    hist = read_csv(csv_path, "ts", {target: target}, freq=f"{freq_min}min", key_col="zone", timezone=site.timezone)
    t = time.perf_counter()
    bt = backtest(hist, default_forecaster(target, holidays), 1440 // freq_min, test_days,
                  refit_every_days=refit_every_days)
    seconds = round(time.perf_counter() - t, 1)
    oracle = oracle_forecasts(bt, hist, oracle_table, target)
    entry = scored(bt.actual, bt.forecast, bt.baseline, oracle)
    kinds = np.concatenate([k.ravel() for k in day_kinds(bt, hist, set(site.holidays))])
    entry["by_day"] = {name: scored(bt.actual, bt.forecast, bt.baseline, oracle, kinds == code)
                       for code, name in KINDS.items() if np.any(kinds == code)}
    entry.update(test_range=bt.scores["test_range"], fits=bt.scores["fits"], backtest_s=seconds)
    log(f"{target} {freq_min} min, {test_days} days: FloorOps {entry['floorops_mae_below_naive_pct']} % below naive, "
        f"oracle {entry['oracle_mae_below_naive_pct']} %, coverage {entry['floorops']['coverage_80']:.3f} ({seconds} s)")
    return entry, bt, hist


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=26)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--test-days", type=int, default=14)
    ap.add_argument("--long-test-days", type=int, default=84, help="the long rolling-origin test period")
    ap.add_argument("--refit-every-days", type=int, default=14, help="refits during the long test period")
    ap.add_argument("--oracle-replicas", type=int, default=120)
    ap.add_argument("--plot-zone", default="reg_hall")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--peer-zones", default="reg_hall,lab,pharmacy", help="15-minute peer: these zones")
    ap.add_argument("--no-peer-15min", action="store_true", help="skip the 15-minute peer (about 7 minutes)")
    args = ap.parse_args()
    result: dict = {"started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    if not args.no_peer:
        ensure_peer()
    result["reference_histgb_fit_s"] = round(reference_fit_seconds(), 2)
    cfg = load_config(env={})
    site = load_site(cfg.site.file)
    holidays = tuple(h.isoformat() for h in site.holidays)
    with tempfile.TemporaryDirectory(prefix="forecast-bench-") as tmp:
        work = Path(tmp)
        csv_path = work / "history.csv"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "firmware_sim", "history", "--weeks", str(args.weeks), "--seed",
                        str(args.seed), "--out", str(csv_path)], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        result["history_s"] = round(time.perf_counter() - t, 1)
        whole = read_csv(csv_path, "ts", {"arrivals": "arrivals"}, key_col="zone", timezone=site.timezone)
        last_day = whole.time_of(whole.n_steps - 1).date() + dt.timedelta(days=1)  # the day after the history
        t = time.perf_counter()
        oracle_days = [last_day - dt.timedelta(days=i) for i in range(args.long_test_days, 0, -1)]
        oracle_table = simulate_oracle(site, oracle_days, args.oracle_replicas)
        result["oracle"] = {"replicas": args.oracle_replicas, "days": len(oracle_days),
                            "seconds": round(time.perf_counter() - t, 1)}
        log(f"oracle: {args.oracle_replicas} replicas of {len(oracle_days)} days in {result['oracle']['seconds']} s")
        windows = [(f"{args.test_days}_days", args.test_days, None),
                   (f"{args.long_test_days}_days_refit_{args.refit_every_days}", args.long_test_days,
                    args.refit_every_days)]
        for freq_min in (15, 60):
            for target in ("arrivals", "occupancy"):
                for name, days, refit in windows:
                    entry, bt, hist = accuracy(csv_path, site, holidays, oracle_table, freq_min, target, days, refit)
                    if not args.no_peer and freq_min == 60 and refit is None:
                        # Hourly: the peer on every zone, same points. Not on the long window: refitting
                        # MSTL every two weeks there takes over eight minutes per target here.
                        peer = peer_backtest(hist, target, 24, days)
                        entry["statsforecast_mstl_every_zone"] = peer
                        log(f"{target} hourly {name}: peer MAE {peer['mae']:.3f} ({peer['seconds']} s), "
                            f"FloorOps {entry['floorops']['mae']:.3f}")
                    if (not args.no_peer and not args.no_peer_15min and freq_min == 15
                            and days == args.test_days):
                        # 15 minutes: about a minute per zone, so the three busiest zones only.
                        zones = args.peer_zones.split(",")
                        peer = peer_backtest(hist.select(zones), target, 96, days)
                        idx = [bt.keys.index(z) for z in zones]
                        act = np.concatenate([a[idx].ravel() for a in bt.actual])
                        med = np.concatenate([f[idx, :, 1].ravel() for f in bt.forecast])
                        lo = np.concatenate([f[idx, :, 0].ravel() for f in bt.forecast])
                        hi = np.concatenate([f[idx, :, 2].ravel() for f in bt.forecast])
                        naive = np.concatenate([b[idx].ravel() for b in bt.baseline])
                        entry["peer_zones_15min"] = {
                            "zones": zones,
                            "floorops": {"mae": mae(act, med), "coverage_80": coverage(act, lo, hi)},
                            "seasonal_naive": {"mae": mae(act, naive)},
                            "statsforecast_mstl": peer,
                        }
                        log(f"{target}: 15-min peer MAE {peer['mae']:.3f}, FloorOps {mae(act, med):.3f} on {zones}")
                    result[f"{target}_{freq_min}min_{name}"] = entry
                    if freq_min == 15 and days == args.test_days:
                        suffix = "" if target == "occupancy" else "-arrivals"
                        plot_backtest(bt, args.plot_zone,
                                      REPO / "docs" / "img" / f"forecast-{args.plot_zone}{suffix}.png",
                                      hist.timezone, last_origins=7,
                                      ylabel=f"{target} per 15 min" if target == "arrivals" else "people present",
                                      title=f"{site.zone(args.plot_zone).name}: {target}, forecast from each "
                                            f"midnight (median, 10th-90th percentile) vs actual")
        log("training with python -m models train")
        conf = work / "floorops.toml"
        tcfg = load_config(env={})
        tcfg.var_dir = str(work / "var")
        conf.write_text(dump_toml(tcfg))
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "models", "train", "--csv", str(csv_path), "--config", str(conf)],
                             check=True, cwd=REPO, capture_output=True, text=True)
        result["train_process_s"] = round(time.perf_counter() - t, 1)
        trained = json.loads(out.stdout)
        result["train_reported_s"] = trained["train_seconds"]
        result["train_saved_backtest"] = {k: {m: round(v[m], 3) for m in ("mae", "seasonal_naive_mae", "coverage_80")}
                                          for k, v in trained["backtest"].items()}
        log("service timings")
        result["service"] = service_timings(csv_path, tcfg.path(tcfg.models.dir), cfg.site.file, work)
    result["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    print(json.dumps(result, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
