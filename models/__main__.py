"""``python -m models``: train, backtest, staffing, forecast (see /work/shared/spec/api.md).

Results go to stdout as one JSON object; progress and errors go to stderr as log lines. Exit codes:
0 done, 2 bad input (file, column, option), 3 a server (InfluxDB) could not be reached, 4 too little
history to train (less than models.training.MIN_HISTORY_DAYS days of data; nothing saved, the previous
model stays in use).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from floorops.clock import clock_of
from floorops.config import ConfigError, load_config
from floorops.influx import InfluxWriteError
from floorops.logs import setup_logging
from floorops.site import SiteError, site_of

log = logging.getLogger("models")

EXIT_INSUFFICIENT_HISTORY = 4
EXIT_CODES = f"""exit codes:
  0  done
  2  bad input (file, column, option, configuration)
  3  InfluxDB could not be reached
  {EXIT_INSUFFICIENT_HISTORY}  too little history to train: fewer days of data than the model needs (the
     error names both); nothing is saved and the newest trained model, if any, stays in use"""


def _progress(msg: str) -> None:
    log.info(msg)


def _print(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _csv_history(args: argparse.Namespace, cfg_tz: str | None) -> Any:
    from models.data import AGGREGATION, read_csv

    rejected: list[str] = []

    def on_reject(line_no: int, reason: str) -> None:
        if len(rejected) < 5:
            log.warning("skipping a CSV row", extra={"line": line_no, "reason": reason})
        rejected.append(reason)

    value_cols = None
    if args.value_col:
        target = args.target or (args.value_col if args.value_col in AGGREGATION else "arrivals")
        value_cols = {target: args.value_col}
    aggregation = {t: args.agg for t in value_cols} if (args.agg and value_cols) else None
    hist = read_csv(args.csv, args.time_col, value_cols, freq=args.freq, key_col=args.key_col,
                    timezone=args.timezone or cfg_tz, aggregation=aggregation, on_reject=on_reject)
    if hist.rejected_rows:
        log.warning("CSV rows skipped", extra={"rejected_rows": hist.rejected_rows})
    return hist


def cmd_staffing(args: argparse.Namespace) -> int:
    from models.erlang import required_positions

    if args.date:
        return cmd_staffing_plan(args)
    if args.arrivals is None or args.interval_min is None or args.aht_min is None or args.target_answer_s is None \
            or args.service_level is None:
        log.error("staffing needs --arrivals, --interval-min, --aht-min, --target-answer-s and --service-level "
                  "(or --date for a day's plan)")
        return 2
    try:
        res = required_positions(args.arrivals, args.interval_min, args.aht_min, args.target_answer_s,
                                 args.service_level, args.max_occupancy, args.shrinkage)
    except ValueError as exc:
        log.error(str(exc))
        return 2
    _print(res.to_dict())
    return 0


def cmd_staffing_plan(args: argparse.Namespace) -> int:
    from models.service import ForecastService

    cfg = load_config(args.config)
    svc = ForecastService(cfg, site_of(cfg))
    if not svc.load():
        log.error("no trained model; run: python -m models train")
        return 2
    day = dt.date.fromisoformat(args.date)
    _print({"date": day.isoformat(), "rows": svc.staffing(day)})
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from models.backtest import backtest
    from models.plot import busiest_key, plot_backtest
    from models.training import default_forecaster

    cfg = load_config(args.config)
    site = site_of(cfg) if args.holidays_from_site else None
    holidays = tuple(h.isoformat() for h in site.holidays) if site else ()
    hist = _csv_history(args, None)
    target = next(iter(hist.values))
    model = default_forecaster(target, holidays, max_rows=cfg.models.max_rows)
    result = backtest(hist, model, args.horizon, args.test_days, progress=_progress,
                      refit_every_days=args.refit_every_days)
    scores = dict(result.scores, rejected_rows=hist.rejected_rows, series=len(hist.keys))
    if args.plot:
        key = args.plot_key or busiest_key(result)
        plot_backtest(result, key, args.plot, hist.timezone, title=f"{key} {target}: backtest forecasts vs actual")
        scores["plot"] = str(args.plot)
    _print(scores)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from models.data import DataError, load_queue_stats, load_zone_stats, merge
    from models.store import save_model
    from models.training import InsufficientHistory, train_site_model

    cfg = load_config(args.config)
    site = site_of(cfg)
    holidays = tuple(h.isoformat() for h in site.holidays)
    if args.csv:
        if args.key_col is None and not args.value_col:
            args.key_col = "zone"  # firmware_sim history / zone_stats exports: one series per zone
        hist = _csv_history(args, site.timezone)
        source = f"csv:{Path(args.csv).name}"
    else:
        until = dt.datetime.fromtimestamp(clock_of(cfg.clock, site.tz).now(), dt.timezone.utc)  # [clock]
        days = args.days or cfg.models.history_days
        log.info("reading zone_stats from InfluxDB", extra={"days": days, "url": cfg.influx.url})
        source = f"influxdb:{cfg.influx.database}/zone_stats"
        try:
            hist = load_zone_stats(cfg.influx.url, cfg.influx.database, until - dt.timedelta(days=days), until,
                                   cfg.models.bucket_min, site.timezone, cfg.influx.username, cfg.influx.password,
                                   site=site.id, progress=_progress)
        except DataError:  # not a point yet (a new site, before any history is loaded): too little history
            span = f"site {site.id}, the last {days} days"
            raise InsufficientHistory.of(0, source, span) from None
        try:
            queues = load_queue_stats(cfg.influx.url, cfg.influx.database, until - dt.timedelta(days=days), until,
                                      cfg.models.bucket_min, site.timezone, [q.id for q in site.queues],
                                      cfg.influx.username, cfg.influx.password, site=site.id, progress=_progress)
        except DataError as exc:
            log.info("no queue history: forecasting zones only", extra={"reason": str(exc)})
        else:
            hist = merge([hist, queues])
            source += "+queue_screen,device_event"
    test_days = cfg.models.test_days if args.test_days is None else args.test_days
    model, meta = train_site_model(hist, holidays, test_days=test_days, source=source, progress=_progress,
                                   max_rows=cfg.models.max_rows)
    path = save_model(model, cfg.path(cfg.models.dir), meta, keep=cfg.models.keep)
    log.info("model saved", extra={"file": str(path), "train_seconds": meta["train_seconds"]})
    _print({"model": str(path), **{k: meta[k] for k in ("train_range", "targets", "keys", "backtest",
                                                          "train_seconds", "rejected_rows", "history_days",
                                                          "short_series", "unused_features")}})
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    from models.service import ForecastService

    cfg = load_config(args.config)
    site = site_of(cfg)
    svc = ForecastService(cfg, site)
    if not svc.load():
        log.error("no trained model; run: python -m models train")
        return 2
    now = dt.datetime.fromisoformat(args.now) if args.now else clock_of(cfg.clock, site.tz).local()
    _print(svc.forecast(now, args.hours, args.zone or None, target=args.target))
    return 0


def _add_csv_options(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--csv", required=required, help="history exported from a hospital system")
    p.add_argument("--time-col", default="ts", help="timestamp column (ISO 8601 or epoch seconds/ms)")
    p.add_argument("--value-col", default=None, help="count column (default: arrivals/occupancy/waiting if present)")
    p.add_argument("--key-col", default=None, help="series column (zone or queue); one series when left out")
    p.add_argument("--target", default=None, help="name the value column's target (arrivals, occupancy, ...)")
    p.add_argument("--freq", default="15min", help="bucket width: 15min, 30min, 1h, 1d ...")
    p.add_argument("--agg", choices=("sum", "mean"), default=None,
                   help="how rows inside a bucket combine (default: sum for counts, mean for occupancy/waiting)")
    p.add_argument("--timezone", default=None, help="IANA zone for naive timestamps and local calendar")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m models", description="FloorOps forecasting and staffing",
                                 epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log-format", choices=("json", "text"), default=None)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a forecaster from InfluxDB zone_stats (or --csv) and save it",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=None)
    p.add_argument("--days", type=int, default=None, help="days of InfluxDB history (default models.history_days)")
    p.add_argument("--test-days", type=int, default=None, help="days held out for the saved backtest scores")
    _add_csv_options(p, required=False)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("backtest", help="rolling-origin backtest of a CSV history against seasonal naive")
    p.add_argument("--config", default=None)
    _add_csv_options(p, required=True)
    p.add_argument("--horizon", type=int, required=True, help="buckets forecast from each midnight")
    p.add_argument("--test-days", type=int, required=True, help="the last D days are the test period")
    p.add_argument("--refit-every-days", type=int, default=None,
                   help="refit on everything before each block of N test days (default: one fit before the test period)")
    p.add_argument("--plot", default=None, help="write a PNG of forecasts, band and actuals")
    p.add_argument("--plot-key", default=None, help="series to plot (default: the busiest)")
    p.add_argument("--no-site-holidays", dest="holidays_from_site", action="store_false",
                   help="do not use the configured site's holidays as a feature")
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("staffing", help="Erlang C staff for one interval, or a day's plan with --date")
    p.add_argument("--arrivals", type=float)
    p.add_argument("--interval-min", type=float)
    p.add_argument("--aht-min", type=float)
    p.add_argument("--target-answer-s", type=float)
    p.add_argument("--service-level", type=float)
    p.add_argument("--max-occupancy", type=float, default=1.0)
    p.add_argument("--shrinkage", type=float, default=0.0)
    p.add_argument("--date", default=None, help="plan every zone and hour of this local date from the forecast")
    p.add_argument("--config", default=None)
    p.set_defaults(func=cmd_staffing)

    p = sub.add_parser("forecast", help="print the current forecast per zone")
    p.add_argument("--config", default=None)
    p.add_argument("--zone", action="append", default=[])
    p.add_argument("--hours", type=int, default=24)
    p.add_argument("--target", default="occupancy")
    p.add_argument("--now", default=None, help="ISO 8601 time to forecast from (default: now)")
    p.set_defaults(func=cmd_forecast)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    from models.data import DataError
    from models.store import ModelLoadError
    from models.training import InsufficientHistory

    args = build_parser().parse_args(argv)
    level, fmt = "INFO", args.log_format or "json"
    try:
        cfg = load_config(getattr(args, "config", None))
        level, fmt = cfg.log_level, args.log_format or cfg.log_format
    except ConfigError:
        pass  # reported below by the command itself
    setup_logging(level, fmt, component="models")
    try:
        return args.func(args)
    except InsufficientHistory as exc:
        log.error(str(exc))
        return EXIT_INSUFFICIENT_HISTORY
    except (ConfigError, SiteError, DataError, ModelLoadError, ValueError) as exc:
        log.error(str(exc))
        return 2
    except InfluxWriteError as exc:
        log.error(str(exc))
        return 3


if __name__ == "__main__":
    sys.exit(main())
