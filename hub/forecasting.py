"""The hub's link to the models service (models.service.ForecastService, owned by models/): load the
newest trained model, forecast zones (occupancy, arrivals) and queues (arrivals, waiting), staffing; and
say clearly when there is no model yet."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any, Callable

from floorops.config import Config
from floorops.site import Site
from hub.roster import PLANNED_ROLES, Roster

log = logging.getLogger("hub.forecasting")


class ForecastUnavailable(RuntimeError):
    """No trained model (or the models package is missing): HTTP 503 with this message."""


class Forecaster:
    def __init__(self, cfg: Config, site: Site, roster: Callable[[], Roster]) -> None:
        self.cfg, self.site, self.roster = cfg, site, roster  # the hub's roster of the moment
        self._service: Any = None
        self._loaded = False
        self._lock = threading.Lock()
        self.error = ""

    def _call(self, fn: Any) -> Any:
        """Blocking (runs in a worker thread): make sure a model is loaded, then call ``fn(service)``.

        One call at a time. A request never waits long behind another (the first import of scikit-learn
        takes seconds on a busy machine): after 2 s it gets "busy" and the client asks again."""
        if not self._lock.acquire(timeout=2.0):
            raise ForecastUnavailable("the forecasting service is starting or busy; try again in a few seconds")
        try:
            service = self._ensure_locked()
            try:
                return fn(service)
            except Exception as exc:
                if type(exc).__name__ == "ModelUnavailable":  # models.service's own "no usable model"
                    raise ForecastUnavailable(str(exc)) from None
                raise
        finally:
            self._lock.release()

    def warm_up(self) -> None:
        """Import the models package and load a model ahead of the first request (in a thread)."""
        try:
            self._call(lambda service: None)
        except ForecastUnavailable as exc:
            log.info("forecasting not available yet", extra={"reason": str(exc)})

    def _ensure_locked(self) -> Any:
        if self._service is None:
            try:
                from models.service import ForecastService  # models/ is another component
            except ImportError as exc:
                self.error = f"the models package is not available ({exc})"
                raise ForecastUnavailable(self.error) from None
            self._service = ForecastService(self.cfg, self.site)
        if not self._loaded:
            try:
                self._loaded = bool(self._service.load())
            except Exception as exc:  # noqa: BLE001 - a broken model file must not crash the hub
                log.exception("model failed to load")
                self.error = f"the forecasting model failed to load: {exc}"
                raise ForecastUnavailable(self.error) from None
            if not self._loaded:
                self.error = ("no forecasting model is trained yet: run `python -m models train` "
                              f"(models go to {self.cfg.path(self.cfg.models.dir)})")
                raise ForecastUnavailable(self.error)
        return self._service

    def reload(self) -> None:
        """Look for a newer model at the next call."""
        self._loaded = False

    def forecast(self, now: dt.datetime, hours: int = 24, zones: list[str] | None = None,
                 target: str = "occupancy") -> dict[str, list[dict]]:
        """Key -> buckets; keys are zone ids and ``queue:<id>`` (queues: arrivals and waiting)."""
        return self._call(lambda s: s.forecast(now, hours=hours, zones=zones, target=target))

    def forecast_lines(self, forecasts: dict[str, list[dict]]) -> list[str]:
        """InfluxDB ``forecast`` points of a forecast (the models service formats them)."""
        return self._call(lambda s: s.forecast_lines(forecasts) if hasattr(s, "forecast_lines") else [])

    def staffing(self, day: dt.date) -> list[dict[str, Any]]:
        return self._call(lambda s: s.staffing(day, on_roster=self.on_roster(day)))

    def on_roster(self, day: dt.date) -> dict[tuple[str, int], int]:
        """(zone, local hour) -> people rostered there (floor managers and staff at work: the day's published
        plan, or standing shifts)."""
        out: dict[tuple[str, int], int] = {}
        roster = self.roster()
        for hour in range(24):
            when = dt.datetime.combine(day, dt.time(hour, 30), self.site.tz)
            for p in roster.at(when):
                if p.role in PLANNED_ROLES:
                    for z in p.zones:
                        out[(z, hour)] = out.get((z, hour), 0) + 1
        return out
