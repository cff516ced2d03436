"""``load-history``: the simulated past written into InfluxDB as if the devices had reported it.

Writes ``zone_stats`` (arrivals, occupancy, waiting per zone and 15 minutes; what the hub writes live
and the models train from) and ``zone_occupancy`` (occupancy, devices), ending at the last whole
bucket before now, through the InfluxDB 1.x HTTP API.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np

from firmware_sim.history import History, simulate_weeks
from firmware_sim.patients import PHONE_SHARE
from floorops import influx
from floorops.config import Config
from floorops.site import Site

log = logging.getLogger(__name__)

BATCH_LINES = 20_000


def history_lines(hist: History, site_id: str, not_after: dt.datetime) -> list[str]:
    """Line protocol for every bucket that starts before ``not_after``."""
    lines: list[str] = []
    for ts, zone, arrivals, occupancy, waiting in hist.rows():
        if ts >= not_after:
            continue
        ns = int(ts.timestamp()) * 1_000_000_000
        tags = {"site": site_id, "zone": zone}
        lines.append(influx.line("zone_stats", tags, {"arrivals": arrivals, "occupancy": float(occupancy),
                                                      "waiting": waiting}, ns))
        lines.append(influx.line("zone_occupancy", tags, {"occupancy": float(occupancy),
                                                          "devices": int(np.rint(occupancy * PHONE_SHARE))}, ns))
    return lines


def load_history(cfg: Config, site: Site, weeks: int, seed: int, now: dt.datetime | None = None) -> int:
    """Simulate ``weeks`` weeks up to now (today included, up to the last whole bucket) and write them."""
    now = now or dt.datetime.now(site.tz)
    hist = simulate_weeks(site, weeks, seed, end=now.astimezone(site.tz).date())
    lines = history_lines(hist, site.id, now - dt.timedelta(minutes=hist.bucket_min))
    i = cfg.influx
    influx.query_sync(i.url, i.database, f'CREATE DATABASE "{i.database}"', username=i.username, password=i.password)
    for k in range(0, len(lines), BATCH_LINES):
        influx.write_sync(i.url, i.database, lines[k:k + BATCH_LINES], username=i.username, password=i.password)
    log.info("history loaded", extra={"points": len(lines), "weeks": weeks, "database": i.database})
    return len(lines)
