"""Time as an object, so rule and timeout tests move it forward instead of sleeping."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from floorops.clock import CentreClock


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock a test sets and advances."""

    def __init__(self, start: float = 1_763_884_800.0) -> None:
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def advance(self, seconds: float) -> float:
        self._t += seconds
        return self._t

    def set(self, t: float) -> None:
        self._t = float(t)


def clock_json(clock: Clock, tz: ZoneInfo) -> dict[str, Any]:
    """The clock as ``GET /api/clock`` reports it: the centre's (floorops/clock.py, real or demo), or a
    test's clock, which is reported as it reads."""
    if isinstance(clock, CentreClock):
        return clock.describe()
    now = dt.datetime.fromtimestamp(clock.now(), tz)
    return {"demo": False, "start": None, "speed": 1.0, "now": now.isoformat(timespec="milliseconds"),
            "now_ms": int(now.timestamp() * 1000), "timezone": str(tz)}


def iso(ts: float | None, tz: ZoneInfo | None = None) -> str | None:
    """Epoch seconds as ISO 8601 with a UTC offset (the site's own when given)."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz or dt.timezone.utc).isoformat(timespec="milliseconds")


def parse_since(text: str, now: float) -> float:
    """``1h``, ``30m``, ``2d``, ``90s``, epoch seconds/ms, or ISO 8601 -> epoch seconds."""
    text = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if text and text[-1] in units and text[:-1].replace(".", "", 1).isdigit():
        return now - float(text[:-1]) * units[text[-1]]
    try:
        v = float(text)
        return v / 1000 if v > 1e11 else v
    except ValueError:
        pass
    try:
        d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"since={text!r} is not a duration (1h, 30m), an epoch time or ISO 8601") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return d.timestamp()
