"""What the hub calls: the newest good model, forecasts of every zone, tomorrow's staffing (interfaces item 5).

The service reads recent ``zone_stats`` from InfluxDB for the lags (four weeks and a day), caching the
table and re-reading only the newest buckets on later calls, so a forecast of every zone stays well under
a second. If InfluxDB is unreachable the forecast falls back to calendar features alone and says so in
the log (``degraded``), rather than failing the hub.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from floorops.config import Config
from floorops.influx import InfluxWriteError
from floorops.measurements import forecast_line
from floorops.site import Site
from models.data import (QUEUE_PREFIX, DataError, History, is_queue_key, load_queue_stats, load_zone_stats,
                         merge, queue_key)
from models.forecaster import Forecast
from models.staffing import StaffingPolicy, handling_minutes, plan_day
from models.store import SiteModel, newest_good_model

log = logging.getLogger("models.service")

LOOKBACK_DAYS = 29  # mean of the same slot over four weeks, plus a day of rolling statistics
REFRESH_BUCKETS = 2  # newest buckets re-read on every call: the live one is still being written


class ModelUnavailable(RuntimeError):
    """No trained model is loaded (or it lacks the target asked for)."""


class ForecastService:
    """Forecasts and staffing for the hub; synchronous (run it in an executor from async code)."""

    def __init__(self, cfg: Config, site: Site) -> None:
        self.cfg = cfg
        self.site = site
        self.model: SiteModel | None = None
        self.metadata: dict[str, Any] = {}
        self.model_path: Path | None = None
        self.degraded = False
        self._cache: History | None = None
        self._cache_read_s = 0.0

    # -- model -------------------------------------------------------------------------------------------

    def load(self) -> bool:
        """Load the newest good model under ``cfg.models.dir``; keeps the current one if none loads."""
        directory = self.cfg.path(self.cfg.models.dir)
        newest = max(directory.glob("*.skops"), default=None)
        if self.model is not None and newest == self.model_path:
            return True  # unchanged since the last load: the hub asks before every forecast
        found = newest_good_model(directory)
        if found is None:
            log.info("no trained forecasting model yet", extra={"dir": str(self.cfg.path(self.cfg.models.dir))})
            return False
        model, meta, path = found
        if path != self.model_path:
            self.model, self.metadata, self.model_path = model, meta, path
            self._cache = None
            log.info("forecasting model loaded", extra={"file": path.name, "train_range": meta.get("train_range")})
        return True

    def _forecaster(self, target: str) -> Any:
        if self.model is None:
            raise ModelUnavailable("no forecasting model is loaded (run: python -m models train)")
        if target not in self.model.forecasters:
            raise ModelUnavailable(f"the loaded model does not forecast {target!r}")
        return self.model.forecasters[target]

    # -- recent history ----------------------------------------------------------------------------------

    def _read(self, since: dt.datetime, until: dt.datetime) -> History:
        """Zones' ``zone_stats`` and, when the model forecasts queues, the queue screens' readings."""
        c = self.cfg.influx
        freq_min = self.model.freq_min if self.model else 15
        zones = load_zone_stats(c.url, c.database, since, until, freq_min, self.site.timezone, c.username,
                                c.password, site=self.site.id, chunk_days=30)
        if not self._queue_ids():
            return zones
        try:
            queues = load_queue_stats(c.url, c.database, since, until, freq_min, self.site.timezone,
                                      self._queue_ids(), c.username, c.password, site=self.site.id, chunk_days=30)
        except DataError:
            return zones  # no queue readings in this window: queue lags stay unknown
        return merge([zones, queues])

    def _queue_ids(self) -> list[str]:
        """Queues of the site that some loaded model forecasts."""
        keys = {k for f in (self.model.forecasters.values() if self.model else ()) for k in f.keys_}
        return [q.id for q in self.site.queues if queue_key(q.id) in keys]

    def keys(self) -> tuple[str, ...]:
        """Every series the service may forecast: the site's zones, then ``queue:<id>`` of its queues."""
        return tuple(z.id for z in self.site.zones) + tuple(queue_key(q.id) for q in self.site.queues)

    def recent_history(self, now: dt.datetime) -> History:
        """``zone_stats`` from LOOKBACK_DAYS before ``now`` up to the bucket containing ``now``."""
        assert self.model is not None
        freq_s = self.model.freq_min * 60
        end_b = math.floor(now.timestamp() / freq_s) + 1
        start_b = end_b - LOOKBACK_DAYS * 86400 // freq_s
        keys = self.keys()
        grid = History(start_b * freq_s, self.model.freq_min, self.site.timezone, keys,
                       {t: np.full((len(keys), end_b - start_b), np.nan) for t in self.model.forecasters})
        old = self._cache
        read_from = start_b
        if old is not None and old.freq_min == grid.freq_min and old.keys == keys:
            _copy_overlap(old, grid)
            read_from = max(start_b, old.end_s // freq_s - REFRESH_BUCKETS)
        try:
            fresh = self._read(dt.datetime.fromtimestamp(read_from * freq_s, dt.timezone.utc),
                               dt.datetime.fromtimestamp(end_b * freq_s, dt.timezone.utc))
            _copy_overlap(fresh, grid)
            self.degraded = False
        except DataError:
            self.degraded = old is None
            if self.degraded:
                log.warning("no recent zone_stats in InfluxDB; forecasting from the calendar alone")
        except InfluxWriteError as exc:
            self.degraded = True
            log.warning("InfluxDB unreachable; forecasting from what is cached or the calendar alone",
                        extra={"error": str(exc)})
        self._cache = grid
        return grid

    # -- forecasts ---------------------------------------------------------------------------------------

    def forecast_target(self, target: str, now: dt.datetime, steps: int, zones: list[str] | None = None) -> Forecast:
        """Quantile forecast of ``target`` for ``steps`` buckets starting with the bucket containing ``now``."""
        model = self._forecaster(target)
        if zones is not None:
            missing = [k for k in zones if k not in model.keys_]
            if missing:
                raise ModelUnavailable(f"the loaded model has no {target} forecast for {', '.join(missing)} "
                                       "(no history for it when it was trained)")
        hist = self.recent_history(now)
        if zones is not None:
            hist = hist.select(zones)
        origin = hist.n_steps - 2  # the last complete bucket; the newest one is still filling
        return model.predict(hist, origin, steps)

    def forecast(self, now: dt.datetime, hours: int = 24, zones: list[str] | None = None,
                 target: str = "occupancy") -> dict[str, list[dict]]:
        """Key -> [{start, p10, p50, p90}] per bucket (of occupancy by default).

        Keys are zone ids and ``queue:<queue id>`` (arrivals and waiting); ``zones=None`` means every key
        the model forecasts for ``target`` (occupancy: the zones)."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        steps = max(1, math.ceil(hours * 60 / self._forecaster(target).freq_min_))
        fc = self.forecast_target(target, now, steps, zones)
        tz = self.site.tz
        freq_s = fc.freq_min * 60
        starts = [dt.datetime.fromtimestamp(fc.start_s + i * freq_s, tz).isoformat() for i in range(steps)]
        lo, mid, hi = (fc.quantiles.index(q) for q in (0.1, 0.5, 0.9))
        out: dict[str, list[dict]] = {}
        for k, zone in enumerate(fc.keys):
            v = np.round(fc.values[k], 2)
            out[zone] = [{"start": starts[i], "p10": float(v[i, lo]), "p50": float(v[i, mid]), "p90": float(v[i, hi])}
                         for i in range(steps)]
        return out

    def forecast_lines(self, forecasts: dict[str, list[dict]], target: str = "occupancy") -> list[str]:
        """InfluxDB ``forecast`` points (docs/architecture.md) for a :meth:`forecast` result."""

        out = []
        for key, buckets in forecasts.items():
            tags = ({"site": self.site.id, "queue": key[len(QUEUE_PREFIX):], "target": target} if is_queue_key(key)
                    else {"site": self.site.id, "zone": key, "target": target})
            for b in buckets:
                ts_ns = int(dt.datetime.fromisoformat(b["start"]).timestamp()) * 1_000_000_000
                out.append(forecast_line(tags, float(b["p10"]), float(b["p50"]), float(b["p90"]), ts_ns))
        return out

    # -- staffing ----------------------------------------------------------------------------------------

    def policy(self) -> StaffingPolicy:
        m = self.cfg.models
        return StaffingPolicy(m.target_wait_s, m.service_level, m.max_occupancy, m.shrinkage)

    def staffing(self, day: dt.date, on_roster: dict[tuple[str, int], int] | None = None,
                 now: dt.datetime | None = None) -> list[dict]:
        """Staff needed per zone and local hour of ``day`` from the arrivals forecast, against the roster.

        Forecast from the latest data for a future day; for today or a past day, from the day's midnight
        (the plan the day started with). Rows: zone, hour, arrivals_p50, arrivals_p90, aht_min, required,
        required_p90, required_raw, on_roster, gap (required - on_roster), short.
        """
        model = self._forecaster("arrivals")
        tz = self.site.tz
        now = (now or dt.datetime.now(tz)).astimezone(tz)
        day_start = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
        day_end = dt.datetime.fromordinal(day.toordinal() + 1).replace(tzinfo=tz)
        origin_time = min(now, day_start - dt.timedelta(seconds=1))
        freq_s = model.freq_min_ * 60
        first_b = math.floor(origin_time.timestamp() / freq_s)  # the forecast starts with this bucket
        end_b = math.ceil(day_end.timestamp() / freq_s)
        aht = handling_minutes(self.site)
        zones = [z.id for z in self.site.zones if z.id in aht and z.id in model.keys_]  # trained ones
        fc = self.forecast_target("arrivals", origin_time, end_b - first_b, zones)
        day_b = math.floor(day_start.timestamp() / freq_s) - first_b
        p50, p90 = fc.quantile(0.5)[:, day_b:], fc.quantile(0.9)[:, day_b:]
        hours = [dt.datetime.fromtimestamp((first_b + day_b + i) * freq_s, tz).hour for i in range(p50.shape[1])]
        hour_list = sorted(set(hours))
        hour_idx = np.array([hour_list.index(h) for h in hours])
        hourly50: dict[str, np.ndarray] = {}
        hourly90: dict[str, np.ndarray] = {}
        for k, zone in enumerate(fc.keys):
            hourly50[zone] = np.bincount(hour_idx, weights=p50[k], minlength=len(hour_list))
            hourly90[zone] = np.bincount(hour_idx, weights=p90[k], minlength=len(hour_list))
        return plan_day(hourly50, hourly90, aht, self.policy(), on_roster, hours=hour_list)


def _copy_overlap(src: History, dst: History) -> None:
    """Copy ``src`` values into ``dst`` where their grids overlap (same bucket width, keys by name)."""
    freq_s = dst.freq_s
    offset = (src.start_s - dst.start_s) // freq_s
    lo = max(0, offset)
    hi = min(dst.n_steps, offset + src.n_steps)
    if hi <= lo:
        return
    for target, arr in dst.values.items():
        if target not in src.values:
            continue
        for i, key in enumerate(dst.keys):
            if key in src.keys:
                seg = src.values[target][src.keys.index(key), lo - offset: hi - offset]
                dst_seg = arr[i, lo:hi]
                arr[i, lo:hi] = np.where(np.isnan(seg), dst_seg, seg)
