"""History tables: bucketed series per key (zone or queue), from a CSV export or InfluxDB (``zone_stats`` for
zones; queue screens' readings and ticket events for queues).

Why one table: the forecaster, the backtest and the service all work on the same regular grid of
buckets (UTC epoch seconds, fixed width), so a CSV from a hospital system and the live database feed
the same code. Missing buckets are NaN, never silently zero (except counts summed from event rows).
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

import numpy as np

from floorops.influx import InfluxWriteError, query_sync
from floorops.kinds.queue_screen import MEASUREMENT as QUEUE_SCREEN
from floorops.measurements import DEVICE_EVENT, ZONE_STATS

log = logging.getLogger("models.data")

TARGETS = ("arrivals", "occupancy", "waiting")
# How values inside one bucket combine: counts add up, levels average.
AGGREGATION = {"arrivals": "sum", "occupancy": "mean", "waiting": "mean"}

_FREQ_RE = re.compile(r"^\s*(\d*)\s*([A-Za-z]*)\s*$")
_FREQ_UNITS_MIN = {
    "": 1, "m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1, "t": 1,
    "h": 60, "hr": 60, "hour": 60, "hours": 60,
    "d": 1440, "day": 1440, "days": 1440,
}


class DataError(ValueError):
    """The input cannot be turned into a history table (bad file, bad column, no usable rows)."""


def parse_freq(text: str | int) -> int:
    """Bucket width in minutes from ``15min``, ``15T``, ``1h``, ``H``, ``30``, ``1D``; must divide a day."""
    if isinstance(text, int):
        minutes = text
    else:
        m = _FREQ_RE.match(str(text))
        unit = m.group(2).lower() if m else None
        if m is None or unit not in _FREQ_UNITS_MIN:
            raise DataError(f"frequency {text!r}: expected e.g. 15min, 30min, 1h or 1d")
        minutes = int(m.group(1) or 1) * _FREQ_UNITS_MIN[unit]
    if minutes <= 0 or 1440 % minutes:
        raise DataError(f"frequency {text!r}: the bucket must divide a day evenly")
    return minutes


def parse_time(text: str, default_tz: dt.tzinfo) -> dt.datetime:
    """ISO 8601 (offset or not; naive means ``default_tz``) or epoch seconds/milliseconds."""
    s = text.strip()
    try:
        num = float(s)
    except ValueError:
        num = None
    if num is not None and math.isfinite(num):
        seconds = num / 1000.0 if num > 1e11 else num
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    t = dt.datetime.fromisoformat(s)
    return t if t.tzinfo is not None else t.replace(tzinfo=default_tz)


@dataclass
class History:
    """Series on a regular grid: ``values[target]`` has shape (len(keys), n_steps), NaN where unknown."""

    start_s: int  # UTC epoch seconds of the first bucket's start
    freq_min: int
    timezone: str  # for calendar features: local hour, weekday, holidays
    keys: tuple[str, ...]
    values: dict[str, np.ndarray]
    rejected_rows: int = 0  # input rows skipped as unreadable (counted, reported)
    notes: list[str] = field(default_factory=list)

    @property
    def freq_s(self) -> int:
        return self.freq_min * 60

    @property
    def n_steps(self) -> int:
        return next(iter(self.values.values())).shape[1] if self.values else 0

    @property
    def end_s(self) -> int:
        """Start of the bucket after the last one."""
        return self.start_s + self.n_steps * self.freq_s

    def time_of(self, index: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.start_s + index * self.freq_s, ZoneInfo(self.timezone))

    def index_of(self, when: dt.datetime) -> int:
        """Index of the bucket containing ``when`` (may be outside the table)."""
        return math.floor((when.timestamp() - self.start_s) / self.freq_s)

    def series(self, target: str, key: str) -> np.ndarray:
        return self.values[target][self.keys.index(key)]

    def slice(self, stop: int, start: int = 0) -> "History":
        """Buckets [start, stop): used to hide the future from a backtest's training."""
        return History(self.start_s + start * self.freq_s, self.freq_min, self.timezone, self.keys,
                       {t: v[:, start:stop].copy() for t, v in self.values.items()})

    def select(self, keys: Iterable[str]) -> "History":
        keys = tuple(k for k in keys if k in self.keys)
        idx = [self.keys.index(k) for k in keys]
        return History(self.start_s, self.freq_min, self.timezone, keys,
                       {t: v[idx].copy() for t, v in self.values.items()})

    def date_range(self) -> tuple[str, str]:
        tz = ZoneInfo(self.timezone)
        first = dt.datetime.fromtimestamp(self.start_s, tz)
        last = dt.datetime.fromtimestamp(self.end_s, tz)
        return first.isoformat(), last.isoformat()


class _Accumulator:
    """Sums and counts per (target, key, bucket) while rows stream in."""

    def __init__(self, freq_min: int) -> None:
        self.freq_s = freq_min * 60
        self.cells: dict[tuple[str, str, int], list[float]] = {}
        self.buckets: set[int] = set()

    def add(self, target: str, key: str, epoch_s: float, value: float) -> None:
        b = int(epoch_s // self.freq_s)
        cell = self.cells.setdefault((target, key, b), [0.0, 0])
        cell[0] += value
        cell[1] += 1
        self.buckets.add(b)

    def table(self, timezone: str, targets: Iterable[str], aggregation: Mapping[str, str],
              fill_missing_counts: bool) -> History:
        if not self.cells:
            raise DataError("no usable rows")
        first, last = min(self.buckets), max(self.buckets)
        n = last - first + 1
        keys = tuple(sorted({k for (_, k, _) in self.cells}))
        kidx = {k: i for i, k in enumerate(keys)}
        values: dict[str, np.ndarray] = {}
        for target in targets:
            summed = aggregation.get(target, "sum") == "sum"
            arr = np.full((len(keys), n), 0.0 if (summed and fill_missing_counts) else np.nan)
            values[target] = arr
        for (target, key, b), (total, count) in self.cells.items():
            if target in values:
                summed = aggregation.get(target, "sum") == "sum"
                values[target][kidx[key], b - first] = total if summed else total / count
        return History(first * self.freq_s, self.freq_s // 60, timezone, keys, values)


def _offset_zone(t: dt.datetime) -> str:
    """A fixed-offset IANA name for a timestamp's own offset, when no time zone was given."""
    off = t.utcoffset() or dt.timedelta(0)
    hours = off.total_seconds() / 3600
    if hours == 0:
        return "UTC"
    if hours != int(hours):
        return "UTC"  # Etc/GMT zones only cover whole hours; local hours then read in UTC
    return f"Etc/GMT{-int(hours):+d}"  # POSIX sign: Etc/GMT-8 is UTC+8


def read_csv(path: str | Path, time_col: str, value_cols: Mapping[str, str] | None = None, freq: str | int = "15min",
             key_col: str | None = None, timezone: str | None = None, aggregation: Mapping[str, str] | None = None,
             on_reject: Callable[[int, str], None] | None = None) -> History:
    """Load a CSV into a :class:`History`, bucketing rows of any frequency.

    ``value_cols`` maps target name -> CSV column (default: every one of arrivals/occupancy/waiting
    present). Rows without a readable time or value are skipped, counted in ``rejected_rows`` and
    reported through ``on_reject(line_number, reason)``; good rows around them are kept.
    """
    p = Path(path)
    freq_min = parse_freq(freq)
    agg = dict(AGGREGATION)
    agg.update(aggregation or {})
    try:
        handle = p.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"{p}: {exc.strerror or exc}") from None
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        if time_col not in header:
            raise DataError(f"{p}: no column {time_col!r} (columns: {', '.join(header)})")
        if value_cols is None:
            value_cols = {t: t for t in TARGETS if t in header}
            if not value_cols:
                raise DataError(f"{p}: name the value column (none of {', '.join(TARGETS)} present)")
        for col in value_cols.values():
            if col not in header:
                raise DataError(f"{p}: no column {col!r} (columns: {', '.join(header)})")
        if key_col is not None and key_col not in header:
            raise DataError(f"{p}: no column {key_col!r} (columns: {', '.join(header)})")
        default_tz: dt.tzinfo = ZoneInfo(timezone) if timezone else dt.timezone.utc
        acc = _Accumulator(freq_min)
        rejected = 0
        zone_name = timezone
        for line_no, row in enumerate(reader, start=2):
            try:
                t = parse_time(row[time_col] or "", default_tz)
            except (ValueError, TypeError, OverflowError, OSError):
                rejected += 1
                if on_reject:
                    on_reject(line_no, f"unreadable time {row.get(time_col)!r}")
                continue
            if zone_name is None:
                zone_name = _offset_zone(t)
            key = (row.get(key_col) or "").strip() if key_col else "all"
            if not key:
                rejected += 1
                if on_reject:
                    on_reject(line_no, f"empty {key_col!r}")
                continue
            bad = False
            parsed: list[tuple[str, float]] = []
            for target, col in value_cols.items():
                raw = (row.get(col) or "").strip()
                if raw == "":
                    continue  # an empty cell is a missing value, not an error
                try:
                    v = float(raw)
                except ValueError:
                    bad = True
                    break
                if not math.isfinite(v) or v < 0:
                    bad = True
                    break
                parsed.append((target, v))
            if bad:
                rejected += 1
                if on_reject:
                    on_reject(line_no, "value is not a non-negative number")
                continue
            for target, v in parsed:
                acc.add(target, key, t.timestamp(), v)
    if acc.cells == {}:
        raise DataError(f"{p}: no usable rows ({rejected} rejected)")
    hist = acc.table(zone_name or "UTC", value_cols.keys(), agg, fill_missing_counts=True)
    hist.rejected_rows = rejected
    return hist


def load_zone_stats(url: str, database: str, since: dt.datetime, until: dt.datetime, freq_min: int,
                    timezone: str, username: str = "", password: str = "", site: str | None = None,
                    chunk_days: int = 7, progress: Callable[[str], None] | None = None) -> History:
    """``zone_stats`` (interfaces item 4) from InfluxDB into a :class:`History`, one key per zone.

    Queried in week-long chunks so a long history neither hits a server row limit nor one huge body.
    Buckets without a point stay NaN: a gap in the data is not a quiet hour.
    """
    acc = _Accumulator(freq_min)
    site_clause = f" AND \"site\" = '{_quote(site)}'" if site else ""
    start = since
    while start < until:
        stop = min(until, start + dt.timedelta(days=chunk_days))
        q = (
            f'SELECT "arrivals", "occupancy", "waiting" FROM "{ZONE_STATS}" '
            f"WHERE time >= {int(start.timestamp() * 1000)}ms AND time < {int(stop.timestamp() * 1000)}ms"
            f'{site_clause} GROUP BY "zone"'
        )
        for series in query_sync(url, database, q, epoch="ms", username=username, password=password):
            zone = (series.get("tags") or {}).get("zone", "")
            if not zone:
                continue
            cols = series["columns"]
            ti = cols.index("time")
            tcols = [(t, cols.index(t)) for t in TARGETS if t in cols]
            for row in series["values"]:
                ts = row[ti] / 1000.0
                for target, ci in tcols:
                    v = row[ci]
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                        acc.add(target, zone, ts, float(v))
        if progress:
            progress(f"read zone_stats up to {stop.date().isoformat()}")
        start = stop
    if not acc.cells:
        raise DataError(f"no zone_stats points between {since.isoformat()} and {until.isoformat()}")
    hist = acc.table(timezone, TARGETS, AGGREGATION, fill_missing_counts=False)
    # Pad to the requested end so "now" falls at a known index even if the newest buckets are missing.
    return _pad_to(hist, until)


QUEUE_PREFIX = "queue:"


def queue_key(queue_id: str) -> str:
    """The series key of a queue: queues and zones share one table and one model, and never collide."""
    return f"{QUEUE_PREFIX}{queue_id}"


def is_queue_key(key: str) -> bool:
    return key.startswith(QUEUE_PREFIX)


def load_queue_stats(url: str, database: str, since: dt.datetime, until: dt.datetime, freq_min: int,
                     timezone: str, queues: Iterable[str], username: str = "", password: str = "",
                     site: str | None = None, chunk_days: int = 7,
                     progress: Callable[[str], None] | None = None) -> History:
    """Per-queue ``arrivals`` and ``waiting`` from what queue screens report (docs/architecture.md), keys
    ``queue:<id>``.

    ``arrivals``: ``device_event`` points with ``event=ticket_issued`` counted per ``queue`` field and
    bucket (the same events the hub counts into a zone's arrivals). ``waiting``: the mean of the
    ``queue_screen`` readings in the bucket. A bucket counts as observed when the queue's screen reported
    in it or a ticket was issued, so a quiet night is zero arrivals and a gap in the data stays NaN.
    Readings of queues not in ``queues`` (another site, a retired queue) are ignored.
    """
    wanted = set(queues)
    acc = _Accumulator(freq_min)
    freq_s = freq_min * 60
    observed: set[tuple[str, int]] = set()
    site_clause = f" AND \"site\" = '{_quote(site)}'" if site else ""
    start = since
    while start < until:
        stop = min(until, start + dt.timedelta(days=chunk_days))
        window = f"time >= {int(start.timestamp() * 1000)}ms AND time < {int(stop.timestamp() * 1000)}ms"
        # Screens report every few seconds: InfluxDB averages them per bucket (buckets start at epoch
        # multiples of the width, as ours do).
        q_wait = (f'SELECT mean("waiting") AS "waiting" FROM "{QUEUE_SCREEN}" WHERE {window}{site_clause} '
                  f'GROUP BY time({freq_min}m), "queue" fill(none)')
        for series in query_sync(url, database, q_wait, epoch="ms", username=username, password=password):
            queue = (series.get("tags") or {}).get("queue", "")
            if queue not in wanted:
                continue
            cols = series["columns"]
            ti, wi = cols.index("time"), cols.index("waiting")
            for row in series["values"]:
                v = row[wi]
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0:
                    ts = row[ti] / 1000.0
                    acc.add("waiting", queue_key(queue), ts, float(v))
                    observed.add((queue, int(ts // freq_s)))
        q_tickets = (f'SELECT "queue" FROM "{DEVICE_EVENT}" WHERE "event" = \'ticket_issued\' AND {window}'
                     f"{site_clause}")
        for series in query_sync(url, database, q_tickets, epoch="ms", username=username, password=password):
            cols = series["columns"]
            ti, qi = cols.index("time"), cols.index("queue")
            for row in series["values"]:
                queue = row[qi]
                if queue in wanted:
                    ts = row[ti] / 1000.0
                    acc.add("arrivals", queue_key(queue), ts, 1.0)
                    observed.add((queue, int(ts // freq_s)))
        if progress:
            progress(f"read queue screens and tickets up to {stop.date().isoformat()}")
        start = stop
    if not acc.cells:
        raise DataError(f"no queue readings between {since.isoformat()} and {until.isoformat()}")
    hist = acc.table(timezone, ("arrivals", "waiting"), AGGREGATION, fill_missing_counts=False)
    first_b = hist.start_s // freq_s
    arrivals = hist.values["arrivals"]
    for queue, b in observed:  # reported but no ticket: zero arrivals, not unknown
        k = hist.keys.index(queue_key(queue))
        if np.isnan(arrivals[k, b - first_b]):
            arrivals[k, b - first_b] = 0.0
    return _pad_to(hist, until)


def merge(histories: Iterable[History]) -> History:
    """One table of every key of several histories with the same bucket width (e.g. zones and queues).

    Why: one model learns across zones and queues alike; the grid is the union of the inputs' ranges.
    """
    parts = [h for h in histories if h.keys]
    if not parts:
        raise DataError("nothing to merge")
    freq_s = parts[0].freq_s
    if any(h.freq_s != freq_s for h in parts):
        raise DataError("histories with different bucket widths")
    start = min(h.start_s for h in parts)
    end = max(h.end_s for h in parts)
    keys: list[str] = []
    for h in parts:
        keys += [k for k in h.keys if k not in keys]
    targets = [t for t in TARGETS if any(t in h.values for h in parts)]
    out = History(start, parts[0].freq_min, parts[0].timezone, tuple(keys),
                  {t: np.full((len(keys), (end - start) // freq_s), np.nan) for t in targets},
                  rejected_rows=sum(h.rejected_rows for h in parts))
    for h in parts:
        off = (h.start_s - start) // freq_s
        for t, arr in h.values.items():
            for i, k in enumerate(h.keys):
                row = out.values[t][keys.index(k), off: off + h.n_steps]
                out.values[t][keys.index(k), off: off + h.n_steps] = np.where(np.isnan(arr[i]), row, arr[i])
    return out


def _pad_to(hist: History, until: dt.datetime) -> History:
    """Pad with NaN to the bucket containing ``until``, so "now" falls at a known index."""
    end_bucket = math.ceil(until.timestamp() / hist.freq_s)
    missing = end_bucket - hist.end_s // hist.freq_s
    if missing > 0:
        hist.values = {t: np.pad(v, ((0, 0), (0, missing)), constant_values=np.nan) for t, v in hist.values.items()}
    return hist


def _quote(s: str) -> str:
    return s.replace("\\", "\\\\").replace("'", "\\'")


__all__ = ["History", "DataError", "read_csv", "load_zone_stats", "load_queue_stats", "merge", "queue_key",
           "is_queue_key", "QUEUE_PREFIX", "parse_freq", "parse_time", "TARGETS", "InfluxWriteError"]
