"""What the queue screens would have reported over a simulated history, stored as the edge stores it.

Why: per-queue forecasts (``models.data.load_queue_stats``) train on the screens' ``queue_screen`` readings
and their ``ticket_issued`` events, so ``load-history`` writes those too and queue forecasts exist from the
first start. Each report becomes the :class:`~floorops.measurements.DeviceMessage` the edge makes of a
valid message, and the mapping the edge writes with (:func:`floorops.measurements.influx_lines`) turns it
into points: the schema has one home, in the shared package (docs/architecture.md).

What a screen reports here, from the flow model's minutes (:class:`~firmware_sim.history.QueueMinutes`):

* every ``ticket_issued`` event of its queue, at its own millisecond within its minute, numbered as the
  live screens print tickets (:func:`~firmware_sim.patients.ticket_label`);
* a reading every :data:`READING_PERIOD_MIN` minutes (live screens report every 10-20 s; one a minute
  keeps a load of weeks quick and the readings' 15-minute means the same): ``waiting`` at that minute,
  ``counters_open`` as staffed, ``serving`` the last ticket called, ``avg_wait_s`` estimated over the
  live screen's 30-minute window by Little's law (ticket-minutes waited / tickets called).

Not written: ``ticket_called``/``served``/``no_show`` events and statuses (no forecast reads them; they
would triple the points). Every screen of a queue reports all of its queue's events, as live.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterator

import numpy as np

from firmware_sim.devices.queue_screen import AVG_WAIT_WINDOW_MS
from firmware_sim.flow import FlowModel
from firmware_sim.history import MIN_PER_DAY, History, QueueMinutes
from firmware_sim.patients import ticket_label
from floorops.contract import SEQ_MODULUS
from floorops.kinds import queue_screen
from floorops.measurements import influx_lines
from floorops.messages import DeviceMessage
from floorops.site import Device

READING_PERIOD_MIN = 1
MINUTE_MS = 60_000
AVG_WAIT_WINDOW_MIN = AVG_WAIT_WINDOW_MS // MINUTE_MS
STREAM = 0x5153  # the random stream of ticket milliseconds: apart from the flow's, so the zones do not move


def queue_screens(hist: History) -> list[tuple[Device, int]]:
    """The site's queue screens whose queue the history has, with the queue's column in QueueMinutes."""
    qm = _minutes(hist)
    column = {q: k for k, q in enumerate(qm.queues)}
    return [(d, column[d.queue]) for d in hist.site.devices if d.kind == queue_screen.KIND.name and d.queue in column]


def screen_lines(hist: History, site_id: str, not_after: dt.datetime, seed: int) -> Iterator[str]:
    """Line protocol of every queue screen's reports in the buckets that start before ``not_after``, day by
    day (a generator: weeks of points are written in batches, never held at once). Same history and seed,
    same lines: a second load overwrites the first (points are keyed by device time and seq)."""
    qm = _minutes(hist)
    screens = queue_screens(hist)
    counters = _counters_per_minute(hist, qm)
    seqs = {d.id: 0 for d, _ in screens}
    # Each screen reads at its own second of the minute (a prime step), as live screens are not in step.
    phase_ms = {d.id: (i * 7_919) % MINUTE_MS for i, (d, _) in enumerate(screens)}
    bucket_ms = hist.bucket_min * MINUTE_MS
    limit_ms = int(not_after.timestamp() * 1000)
    for d, midnight in enumerate(hist.day_starts_utc()):
        day_ms = int(midnight.timestamp() * 1000)
        # Minutes of the buckets that start before not_after (whole buckets, as for zone_stats).
        n_min = int(np.clip(-(-(limit_ms - day_ms) // bucket_ms) * hist.bucket_min, 0, MIN_PER_DAY))
        if n_min == 0:
            break
        rng = np.random.default_rng([seed, STREAM, d])
        tickets = qm.tickets[d, :n_min].astype(np.int64)
        # Each ticket's millisecond, per queue (all screens of a queue show the same tickets).
        issued_ms = [np.sort(day_ms + np.repeat(np.arange(n_min), tickets[:, k]) * MINUTE_MS
                             + rng.integers(0, MINUTE_MS, tickets[:, k].sum())) for k in range(len(qm.queues))]
        calls = np.cumsum(qm.calls[d, :n_min].astype(np.int64), axis=0) - qm.waiting_at_midnight[d][None, :]
        wait_sum = _window_sum(qm.waiting[d, :n_min].astype(np.int64), AVG_WAIT_WINDOW_MIN)
        call_sum = _window_sum(qm.calls[d, :n_min].astype(np.int64), AVG_WAIT_WINDOW_MIN)
        reading_min = np.arange(0, n_min, READING_PERIOD_MIN)
        for dev, k in screens:
            node = qm.nodes[k]
            queue = qm.queues[k]
            t_read = day_ms + reading_min * MINUTE_MS + phase_ms[dev.id]
            t_event = issued_ms[k]
            times = np.concatenate([t_event, t_read])
            order = np.argsort(times, kind="stable")
            seq0 = seqs[dev.id]
            seqs[dev.id] = seq0 + len(times)
            rank = np.empty(len(times), dtype=np.int64)
            rank[order] = np.arange(1, len(times) + 1)
            seq = (seq0 + rank) % SEQ_MODULUS
            n_ev = len(t_event)
            for j in range(n_ev):
                msg = DeviceMessage(queue_screen.KIND.name, dev.id, "event", int(t_event[j]), int(seq[j]),
                                    {"event": "ticket_issued", "queue": queue, "ticket": ticket_label(node, j + 1)})
                yield from influx_lines(msg, site_id, dev.zone, queue_screen.KIND)
            for i, m in enumerate(reading_min):
                called = int(calls[m, k])
                avg_wait = round(float(wait_sum[m, k]) * 60.0 / float(call_sum[m, k]), 1) if call_sum[m, k] else 0.0
                msg = DeviceMessage(queue_screen.KIND.name, dev.id, "telemetry", int(t_read[i]), int(seq[n_ev + i]), {
                    "queue": queue, "waiting": int(qm.waiting[d, m, k]),
                    "serving": ticket_label(node, called) if called > 0 else "",
                    "counters_open": int(counters[m, k]), "avg_wait_s": avg_wait})
                yield from influx_lines(msg, site_id, dev.zone, queue_screen.KIND)


def _minutes(hist: History) -> QueueMinutes:
    if hist.queue_minutes is None:
        raise ValueError("the history has no queue minutes: simulate it with queues=True")
    return hist.queue_minutes


def _counters_per_minute(hist: History, qm: QueueMinutes) -> np.ndarray:
    """Counters staffed at each local minute of the day, per queue: (1440, queues)."""
    model = FlowModel(hist.site)
    return np.array([model.counters_open(m)[qm.nodes] for m in range(MIN_PER_DAY)])


def _window_sum(x: np.ndarray, width: int) -> np.ndarray:
    """Sum over the last ``width`` rows up to and including each row (fewer at the start of the day)."""
    c = np.cumsum(x, axis=0)
    out = c.copy()
    out[width:] -= c[:-width]
    return out
