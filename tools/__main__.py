"""``python -m tools``: tooling over several components.

    python -m tools calibrate --config FILE      fit occupancy factors on the simulator, report the error
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from floorops.config import ConfigError, load_config
from floorops.site import load_site


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools", description="FloorOps tooling over several components.")
    sub = p.add_subparsers(dest="command", required=True)
    cal = sub.add_parser("calibrate", help="fit the edge's occupancy factors on the simulator's patient flow and "
                                           "report the error (about two minutes)")
    cal.add_argument("--config", help="configuration file (default: floorops.toml or $FLOOROPS_CONFIG)")
    cal.add_argument("--window-s", type=float, help="sliding window (default: edge.occupancy_window_s)")
    cal.add_argument("--fit-day", default="2026-11-16", help="simulated weekday to fit on (seed 1)")
    cal.add_argument("--test-day", default="2026-11-17", help="simulated weekday to score on (seed 2)")
    cal.add_argument("--hours", default="7-18", help="local hours simulated, e.g. 7-18")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(args.config)
    except (ConfigError, OSError) as exc:
        print(f"tools: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        h0, h1 = (int(x) for x in args.hours.split("-"))
        fit_day, test_day = dt.date.fromisoformat(args.fit_day), dt.date.fromisoformat(args.test_day)
    except ValueError as exc:
        print(f"tools: bad --hours, --fit-day or --test-day: {exc}", file=sys.stderr)
        return 2
    from tools import calibration  # the simulator and the edge's pipeline: only this command needs them

    site = load_site(cfg.site.file)
    window = args.window_s or cfg.edge.occupancy_window_s
    print(calibration.report(site, window, cfg.edge.occupancy_rssi_min, fit_day, test_day, h0, h1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
