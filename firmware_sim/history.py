"""Months of ground truth in seconds: the flow model run over a batch of days at once.

The same :class:`~firmware_sim.flow.FlowModel` and :class:`~firmware_sim.profiles.DemandProfile` as the
live simulation, vectorised over days (each day starts empty two hours before local midnight, which is
how an outpatient hospital looks at 22:00). Output: one row per zone and 15-minute bucket,
``ts,zone,arrivals,occupancy,waiting``; ``ts`` is the bucket start in ISO 8601 with the site's offset.
On request (``queues=True``) also each queue's minutes (:class:`QueueMinutes`), from which
:mod:`firmware_sim.screen_history` tells what the queue screens would have reported.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from firmware_sim.flow import WARMUP_MIN, FlowModel, FlowState
from firmware_sim.profiles import DemandProfile, local_day_start
from floorops.site import Site

log = logging.getLogger(__name__)

BUCKET_MIN = 15
MIN_PER_DAY = 24 * 60


@dataclass
class QueueMinutes:
    """Each queue's minutes, arrays of shape (days, 1440, queues); minute 0 is local midnight.

    Kept apart from the 15-minute zone buckets because the queue screens' history needs each ticket's
    minute, and only on request: a year of minutes is a few hundred MB the zone history does not need."""

    queues: list[str]  # queue ids, in the site file's order
    nodes: list[int]  # each queue's index in FlowModel.nodes (its ticket letter)
    tickets: np.ndarray  # int16: tickets issued in the minute
    calls: np.ndarray  # int16: tickets called to a counter in the minute
    waiting: np.ndarray  # int32: tickets waiting at the end of the minute
    waiting_at_midnight: np.ndarray  # (days, queues) int32: tickets from the evening before, still waiting

    @classmethod
    def empty(cls, queues: list[str], nodes: list[int], days: int) -> "QueueMinutes":
        shape = (days, MIN_PER_DAY, len(queues))
        return cls(queues, nodes, np.zeros(shape, np.int16), np.zeros(shape, np.int16), np.zeros(shape, np.int32),
                   np.zeros((days, len(queues)), np.int32))

    @classmethod
    def concat(cls, parts: list["QueueMinutes"]) -> "QueueMinutes":
        return cls(parts[0].queues, parts[0].nodes, *(np.concatenate([getattr(p, a) for p in parts])
                   for a in ("tickets", "calls", "waiting", "waiting_at_midnight")))


@dataclass
class History:
    """Ground truth per day, bucket and zone: arrays of shape (days, buckets, zones)."""

    site: Site
    days: list[dt.date]
    zones: list[str]
    arrivals: np.ndarray  # int
    occupancy: np.ndarray  # float, mean people present over the bucket
    waiting: np.ndarray  # int, mean tickets waiting over the bucket, rounded
    outpatients: np.ndarray  # (days, buckets): outpatients who came through the door (not in the CSV)
    bucket_min: int = BUCKET_MIN
    queue_minutes: QueueMinutes | None = field(default=None, repr=False)  # only when asked for (queues=True)

    def day_starts_utc(self) -> list[dt.datetime]:
        """Local midnight of every day, in UTC (minutes and buckets are added in UTC: DST days stay right)."""
        return [local_day_start(day, self.site.tz).astimezone(dt.timezone.utc) for day in self.days]

    def bucket_starts(self) -> list[dt.datetime]:
        """Aware local datetimes of every bucket, day by day."""
        tz = self.site.tz
        out = []
        for day in self.days:
            start = local_day_start(day, tz)
            for k in range(self.arrivals.shape[1]):
                # Add in UTC then convert, so that days with a DST change stay correct.
                out.append((start.astimezone(dt.timezone.utc) + dt.timedelta(minutes=k * self.bucket_min)).astimezone(tz))
        return out

    def rows(self) -> Iterator[tuple[dt.datetime, str, int, float, int]]:
        starts = self.bucket_starts()
        nb = self.arrivals.shape[1]
        for d in range(len(self.days)):
            for k in range(nb):
                ts = starts[d * nb + k]
                for z, zone in enumerate(self.zones):
                    yield ts, zone, int(self.arrivals[d, k, z]), float(self.occupancy[d, k, z]), int(self.waiting[d, k, z])

    def write_csv(self, path: str | Path) -> int:
        """Write ``ts,zone,arrivals,occupancy,waiting``; returns the number of data rows."""
        n = 0
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["ts", "zone", "arrivals", "occupancy", "waiting"])
            for ts, zone, arr, occ, wait in self.rows():
                w.writerow([ts.isoformat(), zone, arr, f"{occ:.2f}", wait])
                n += 1
        return n


def simulate_days(site: Site, days: list[dt.date], seed: int, bucket_min: int = BUCKET_MIN,
                  queues: bool = False) -> History:
    """Run the flow model over ``days`` (a batch) and aggregate per bucket and zone (and, with ``queues``,
    keep each queue's minutes). The same random draws either way: the zones do not depend on ``queues``."""
    model = FlowModel(site)
    demand = DemandProfile.for_site(site)
    rng = np.random.default_rng([seed, 0x4849])
    b, nz = len(days), len(model.zone_ids)
    nb = MIN_PER_DAY // bucket_min
    minutes = np.arange(-WARMUP_MIN, MIN_PER_DAY)
    out_rate, er_rate = demand.rate_per_min(minutes, days)
    day_noise = rng.lognormal(0.0, demand.day_sigma, size=b)
    out_rate *= day_noise[:, None]
    arrivals = np.zeros((b, nb, nz))
    occupancy = np.zeros((b, nb, nz))
    waiting = np.zeros((b, nb, nz))
    outpatients = np.zeros((b, nb), dtype=np.int64)
    state = FlowState.empty(b, len(model.nodes))
    q_nodes = [i for i, n in enumerate(model.nodes) if n.kind == "queue"]
    qm = QueueMinutes.empty([model.nodes[i].name for i in q_nodes], q_nodes, b) if queues else None
    for col, m in enumerate(minutes):
        if m == 0 and qm is not None:
            qm.waiting_at_midnight[:] = state.waiting[:, q_nodes]
        res = model.step(state, int(m), out_rate[:, col], er_rate[:, col], rng)
        if m < 0:
            continue
        if qm is not None:
            qm.tickets[:, m, :] = res.entered[:, q_nodes]
            qm.calls[:, m, :] = res.started[:, q_nodes]
            qm.waiting[:, m, :] = state.waiting[:, q_nodes]
        k = m // bucket_min
        arrivals[:, k, :] += model.zone_arrivals(res)
        outpatients[:, k] += res.new_outpatients
        occupancy[:, k, :] += model.zone_population(state)
        waiting[:, k, :] += model.zone_waiting(state)
    occupancy /= bucket_min
    waiting = np.rint(waiting / bucket_min)
    return History(site, days, model.zone_ids, arrivals.astype(np.int64), occupancy, waiting.astype(np.int64),
                   outpatients, bucket_min, qm)


def history_days(weeks: int, end: dt.date) -> list[dt.date]:
    """``weeks`` whole weeks of days ending with ``end`` (inclusive)."""
    n = int(weeks) * 7
    return [end - dt.timedelta(days=n - 1 - i) for i in range(n)]


def simulate_weeks(site: Site, weeks: int, seed: int, end: dt.date | None = None, queues: bool = False) -> History:
    """The last ``weeks`` weeks up to ``end`` (default: yesterday, local), in batches of 64 days; ``queues``:
    keep each queue's minutes too (:class:`QueueMinutes`)."""
    if weeks <= 0:
        raise ValueError("weeks must be positive")
    if end is None:
        end = dt.datetime.now(site.tz).date() - dt.timedelta(days=1)
    days = history_days(weeks, end)
    parts = []
    for i in range(0, len(days), 64):
        parts.append(simulate_days(site, days[i:i + 64], seed + i, queues=queues))
    return History(
        site, days, parts[0].zones,
        np.concatenate([p.arrivals for p in parts]), np.concatenate([p.occupancy for p in parts]),
        np.concatenate([p.waiting for p in parts]), np.concatenate([p.outpatients for p in parts]),
        queue_minutes=QueueMinutes.concat([p.queue_minutes for p in parts if p.queue_minutes is not None])
        if queues else None,
    )
