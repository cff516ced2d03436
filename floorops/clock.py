"""The centre's one clock: the real wall clock, or a demo clock that starts the site's day at a chosen time.

Every process of the control centre (simulator, edge, hub and its forecasts, the console through the hub)
reads the time from a :class:`CentreClock` built from ``[clock]`` (floorops/config.py, ``ClockConfig``):

- by default it is the real wall clock;
- a demo clock shows ``start`` (HH:MM, site local; on ``date``, or on the site's date at the anchor) at the
  real instant ``anchor`` and runs ``speed`` times real time from there:
  ``now = start_epoch + (wall() - anchor) * speed``.

``make run DEMO_START=07:30 DEMO_SPEED=10`` (centre.launcher ``--start/--speed``) fixes the anchor once and
hands the same ``[clock]`` to every child, so that all processes agree on the site's time, and a restarted
child carries on where the others are. The hub reports the clock at ``GET /api/clock`` and in
``GET /api/site``; the console shows a "DEMO CLOCK" badge from it.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from zoneinfo import ZoneInfo

from floorops.config import ClockConfig, Config, ConfigError
from floorops.site import site_of


@dataclass(frozen=True)
class CentreClock:
    """Seconds since the Unix epoch, as the centre sees them (``now()``, the hub's ``Clock`` protocol)."""

    tz: ZoneInfo
    start_epoch: float | None = None  # the site's time at the anchor; None: the real wall clock
    anchor: float = 0.0  # real epoch seconds at which the clock showed start_epoch
    speed: float = 1.0
    wall: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    @property
    def demo(self) -> bool:
        return self.start_epoch is not None

    def now(self) -> float:
        real = self.wall()
        if self.start_epoch is None:
            return real
        return self.start_epoch + (real - self.anchor) * self.speed

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def local(self) -> dt.datetime:
        """Now, in the site's time zone."""
        return dt.datetime.fromtimestamp(self.now(), self.tz)

    def wall_delay_s(self, virtual_ms: int) -> float:
        """Real seconds until the clock shows ``virtual_ms`` (0 if it already has)."""
        return max(0.0, (virtual_ms - self.now_ms()) / 1000.0 / self.speed)

    def describe(self) -> dict[str, Any]:
        """What the hub reports (``GET /api/clock``): demo or not, where it started, its speed, now."""
        now = self.local()
        start = None if self.start_epoch is None else dt.datetime.fromtimestamp(self.start_epoch, self.tz)
        return {"demo": self.demo,
                "start": start.isoformat(timespec="seconds") if start else None,
                "speed": self.speed,
                "now": now.isoformat(timespec="milliseconds"),
                "now_ms": int(now.timestamp() * 1000),
                "timezone": str(self.tz)}


def start_epoch(setting: ClockConfig, tz: ZoneInfo, anchor: float) -> float:
    """The epoch second the demo clock shows at ``anchor``: ``start`` on ``date`` (or on the site's date at
    ``anchor``), site local; with no ``start``, the anchor itself (a clock that only runs faster)."""
    if not setting.start:
        return anchor
    hh, mm = (int(p) for p in setting.start.split(":"))
    day = dt.date.fromisoformat(setting.date) if setting.date else dt.datetime.fromtimestamp(anchor, tz).date()
    return dt.datetime.combine(day, dt.time(hh, mm), tzinfo=tz).timestamp()


def clock_of(setting: ClockConfig, tz: ZoneInfo | str, wall: Callable[[], float] = time.time) -> CentreClock:
    """The clock a ``[clock]`` setting describes (checked: ConfigError says what is wrong)."""
    setting.validate()
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    if not setting.demo:
        return CentreClock(zone, wall=wall)
    anchor = setting.anchor or wall()
    return CentreClock(zone, start_epoch(setting, zone, anchor), anchor, float(setting.speed), wall=wall)


def centre_clock(cfg: Config, wall: Callable[[], float] = time.time) -> CentreClock:
    """The configured clock in the configured site's time zone."""
    return clock_of(cfg.clock, site_of(cfg).tz, wall)


def anchored(setting: ClockConfig, wall: Callable[[], float] = time.time) -> ClockConfig:
    """The setting with its anchor fixed to now (unless it has one): what the launcher hands its children."""
    setting.validate()
    if setting.demo and not setting.anchor:
        return ClockConfig(start=setting.start, speed=setting.speed, date=setting.date, anchor=wall())
    return setting


__all__ = ["CentreClock", "ConfigError", "anchored", "centre_clock", "clock_of", "start_epoch"]
