"""``load-history``: the simulated past written into InfluxDB as if the devices had reported it.

Writes ``zone_stats`` (arrivals, occupancy, waiting per zone and 15 minutes; what the hub writes live
and the models train from), ``zone_occupancy`` (occupancy, devices), and what every queue screen would
have reported (``queue_screen`` readings and ``ticket_issued`` events in ``device_event``, the edge's
schema: :mod:`firmware_sim.screen_history`), from which the models train per-queue forecasts, and each
charging station's hours (``wheelchair_hour``: :mod:`firmware_sim.wheelchair_history`), which the hub imports
for its wheelchair demand forecast; all of it ending at the last whole bucket before now, through the InfluxDB 1.x HTTP API.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from typing import Iterable, Iterator

import numpy as np

from firmware_sim.history import History, simulate_weeks
from firmware_sim.patients import PHONE_SHARE
from firmware_sim.screen_history import screen_lines
from firmware_sim.wheelchair_history import wheelchair_lines
from floorops import influx
from floorops.config import Config
from floorops.measurements import zone_occupancy_line, zone_stats_line
from floorops.site import Site

log = logging.getLogger(__name__)

BATCH_LINES = 20_000


def history_lines(hist: History, site_id: str, not_after: dt.datetime) -> list[str]:
    """Zone lines (``zone_stats``, ``zone_occupancy``) for every bucket that starts before ``not_after``."""
    lines: list[str] = []
    for ts, zone, arrivals, occupancy, waiting in hist.rows():
        if ts >= not_after:
            continue
        ns = int(ts.timestamp()) * 1_000_000_000
        lines.append(zone_stats_line(site_id, zone, arrivals, waiting, float(occupancy), ns))
        lines.append(zone_occupancy_line(site_id, zone, float(occupancy), int(np.rint(occupancy * PHONE_SHARE)), ns))
    return lines


def all_history_lines(hist: History, site_id: str, not_after: dt.datetime, seed: int) -> Iterator[str]:
    """The zones' lines, the queue screens' (needs a history simulated with ``queues=True``), then the
    charging stations' hours."""
    yield from history_lines(hist, site_id, not_after)
    yield from screen_lines(hist, site_id, not_after, seed)
    yield from wheelchair_lines(hist, site_id, not_after, seed)


def batches(lines: Iterable[str], size: int = BATCH_LINES) -> Iterator[list[str]]:
    it = iter(lines)
    while batch := list(itertools.islice(it, size)):
        yield batch


def load_history(cfg: Config, site: Site, weeks: int, seed: int, now: dt.datetime | None = None) -> int:
    """Simulate ``weeks`` weeks up to now (today included, up to the last whole bucket) and write them:
    zones, queue screens and charging stations. Returns the number of points written."""
    now = now or dt.datetime.now(site.tz)
    hist = simulate_weeks(site, weeks, seed, end=now.astimezone(site.tz).date(), queues=True)
    i = cfg.influx
    influx.query_sync(i.url, i.database, f'CREATE DATABASE "{i.database}"', username=i.username, password=i.password)
    n = 0
    for batch in batches(all_history_lines(hist, site.id, now - dt.timedelta(minutes=hist.bucket_min), seed)):
        influx.write_sync(i.url, i.database, batch, username=i.username, password=i.password)
        n += len(batch)
    log.info("history loaded", extra={"points": n, "weeks": weeks, "database": i.database})
    return n
