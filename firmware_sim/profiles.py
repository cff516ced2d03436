"""When patients arrive: daily and weekly profiles, public holidays, emergency walk-ins.

One place for the shape of demand, shared by the live simulation and the fast history (both call
:func:`arrival_rate_per_min`), so that a model trained on the history meets the same hospital live.
Hours are the site's local hours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np

from floorops.site import Site

# Relative outpatient arrivals per local hour 0..23: a morning peak 8:00-10:00, a lunch dip, an
# afternoon bump around 14:00, and a night trough (walk-ins for the night pharmacy and registration).
OUTPATIENT_HOURLY = np.array(
    [0.15, 0.1, 0.1, 0.1, 0.1, 0.2, 0.8, 4.5, 11.0, 12.0, 9.0, 6.0,
     3.5, 5.0, 7.5, 6.0, 4.0, 2.5, 1.5, 1.0, 0.7, 0.5, 0.3, 0.2]
)
# Emergency walk-ins are flatter: a day plateau and a busy evening.
EMERGENCY_HOURLY = np.array(
    [0.7, 0.6, 0.5, 0.5, 0.5, 0.6, 0.8, 1.0, 1.2, 1.3, 1.3, 1.2,
     1.1, 1.1, 1.1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.4, 1.2, 1.0, 0.8]
)
# Monday is the busiest day; weekends are light (Python weekday: Monday = 0).
OUTPATIENT_WEEKDAY = np.array([1.15, 1.0, 0.97, 0.95, 0.93, 0.45, 0.30])
EMERGENCY_WEEKDAY = np.array([1.0, 0.95, 0.95, 0.95, 1.0, 1.1, 1.1])
OUTPATIENT_HOLIDAY = 0.25
EMERGENCY_HOLIDAY = 1.1


@dataclass(frozen=True)
class DemandProfile:
    """Daily volumes and their shape; ``outpatients_per_weekday`` is an ordinary Tuesday-to-Friday."""

    outpatients_per_weekday: float = 5000.0
    emergencies_per_day: float = 240.0
    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    # Day-to-day variation (weather, epidemics): a log-normal factor per day.
    day_sigma: float = 0.06

    @classmethod
    def for_site(cls, site: Site) -> "DemandProfile":
        """Volumes from the site file's optional ``[site]`` keys, holidays from its list."""
        return cls(
            outpatients_per_weekday=float(site.extra.get("outpatients_per_weekday", 5000)),
            emergencies_per_day=float(site.extra.get("emergencies_per_day", 240)),
            holidays=frozenset(site.holidays),
        )

    def day_factors(self, days: list[dt.date]) -> tuple[np.ndarray, np.ndarray]:
        """(outpatient, emergency) multipliers of each calendar day."""
        wd = np.array([d.weekday() for d in days], dtype=int)
        hol = np.array([d in self.holidays for d in days], dtype=bool)
        out = np.where(hol, OUTPATIENT_HOLIDAY, OUTPATIENT_WEEKDAY[wd])
        er = np.where(hol, EMERGENCY_HOLIDAY, EMERGENCY_WEEKDAY[wd])
        return out, er

    def rate_per_min(self, local_minutes: np.ndarray, days: list[dt.date]) -> tuple[np.ndarray, np.ndarray]:
        """Expected arrivals per minute, shape (len(days), len(local_minutes)).

        ``local_minutes`` are minutes since local midnight of each day (may be negative for the
        evening before, which then takes the previous day's calendar factors).
        """
        minutes = np.asarray(local_minutes)
        out_f, er_f = self.day_factors(days)
        prev = [d - dt.timedelta(days=1) for d in days]
        out_p, er_p = self.day_factors(prev)
        hour = (minutes // 60) % 24
        before = minutes < 0
        out_shape = OUTPATIENT_HOURLY[hour] / OUTPATIENT_HOURLY.sum() / 60.0
        er_shape = EMERGENCY_HOURLY[hour] / EMERGENCY_HOURLY.sum() / 60.0
        out_day = np.where(before[None, :], out_p[:, None], out_f[:, None])
        er_day = np.where(before[None, :], er_p[:, None], er_f[:, None])
        # Normalised so that an ordinary weekday (factor ~1.0 Tue-Fri average) sees the configured volume.
        base = self.outpatients_per_weekday / float(OUTPATIENT_WEEKDAY[1:5].mean())
        return base * out_day * out_shape[None, :], self.emergencies_per_day * er_day * er_shape[None, :]


def local_day_start(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """Local midnight of ``day`` as an aware datetime."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=tz)
