"""Zone occupancy from Wi-Fi probe sightings (hashed MACs only).

How many people are in a zone is estimated from the distinct phones its probes heard in a sliding
window, above an RSSI threshold (weaker signals come from the corridor next door). Two corrections, both
calibrated (``fit``) and kept in the configuration:

- phones with randomised MACs (locally administered) show several addresses per window, so their
  distinct count is divided by ``random_mac_factor``;
- not everyone carries a phone that probes, so the phone count is divided by ``phone_ratio``.

``OccupancyEstimator`` is the pure model (scikit-learn style: ``fit`` / ``predict``); ``ZoneWindows`` holds
the sliding windows the agent feeds with sightings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass
class OccupancyEstimator:
    """occupancy = zone_factor * (universal + randomised / random_mac_factor) / phone_ratio.

    ``zone_factors`` (default 1) correct what differs between zones: where people pass through quickly
    (an entrance hall) more of the phones heard in the window have already left."""

    phone_ratio: float = 0.8
    random_mac_factor: float = 2.0
    zone_factors: dict[str, float] = field(default_factory=dict)

    def predict(self, universal: np.ndarray | Sequence[float], randomised: np.ndarray | Sequence[float],
                zones: Sequence[str] | None = None) -> np.ndarray:
        u = np.asarray(universal, dtype=float)
        r = np.asarray(randomised, dtype=float)
        base = (u + r / self.random_mac_factor) / self.phone_ratio
        if zones is None:
            return base
        return base * np.array([self.zone_factors.get(z, 1.0) for z in zones])

    def predict_one(self, universal: int, randomised: int, zone: str = "") -> float:
        return self.zone_factors.get(zone, 1.0) * (universal + randomised / self.random_mac_factor) / self.phone_ratio

    def fit(self, universal: Sequence[float], randomised: Sequence[float], occupancy: Sequence[float]) -> "OccupancyEstimator":
        """Least squares of the true occupancy on the two counts (no intercept: no phones, no people)."""
        x = np.column_stack([np.asarray(universal, float), np.asarray(randomised, float)])
        y = np.asarray(occupancy, float)
        (a, b), *_ = np.linalg.lstsq(x, y, rcond=None)
        if a <= 0 or b <= 0:
            raise ValueError(f"calibration gave non-positive weights ({a:.3f}, {b:.3f}); more data needed")
        self.phone_ratio = float(1.0 / a)
        self.random_mac_factor = float(a / b)
        return self

    def fit_zones(self, universal: Sequence[float], randomised: Sequence[float], occupancy: Sequence[float],
                  zones: Sequence[str]) -> "OccupancyEstimator":
        """Per-zone factors after ``fit``: the ratio of true to estimated people, summed over the data."""
        base = self.predict(universal, randomised)
        num: dict[str, float] = {}
        den: dict[str, float] = {}
        for z, p, y in zip(zones, base, occupancy):
            num[z] = num.get(z, 0.0) + float(y)
            den[z] = den.get(z, 0.0) + float(p)
        self.zone_factors = {z: round(num[z] / den[z], 3) for z in sorted(num) if den[z] > 0}
        return self


@dataclass
class _Window:
    last_seen: dict[str, tuple[int, bool]] = field(default_factory=dict)  # mac_hash -> (ts_ms, randomised)


class ZoneWindows:
    """Sliding windows of sightings per zone; ``counts`` forgets what is older than the window."""

    def __init__(self, window_s: float, rssi_min: int) -> None:
        self.window_ms = int(window_s * 1000)
        self.rssi_min = rssi_min
        self.zones: dict[str, _Window] = {}
        self.latest_ms = 0

    def observe(self, zone: str, mac_hash: str, ts_ms: int, rssi: int, randomised: bool) -> bool:
        """Record one sighting; False if it is too weak to count."""
        if ts_ms > self.latest_ms:
            self.latest_ms = ts_ms
        if rssi < self.rssi_min or not zone:
            return False
        w = self.zones.get(zone)
        if w is None:
            w = self.zones[zone] = _Window()
        prev = w.last_seen.get(mac_hash)
        if prev is None or prev[0] < ts_ms:
            w.last_seen[mac_hash] = (ts_ms, randomised)
        return True

    def counts(self, zone: str, now_ms: int) -> tuple[int, int]:
        """(universal, randomised) distinct hashes seen in (now - window, now]."""
        w = self.zones.get(zone)
        if w is None:
            return 0, 0
        cutoff = now_ms - self.window_ms
        stale = [h for h, (ts, _) in w.last_seen.items() if ts <= cutoff]
        for h in stale:
            del w.last_seen[h]
        randomised = sum(1 for ts, rnd in w.last_seen.values() if rnd and ts <= now_ms)
        universal = sum(1 for ts, rnd in w.last_seen.values() if not rnd and ts <= now_ms)
        return universal, randomised
