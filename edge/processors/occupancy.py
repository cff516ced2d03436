"""Zone occupancy from Wi-Fi probe sightings (hashed MACs only), fused with the queue screens.

How many people are in a zone is estimated from the distinct phones its probes heard in a sliding
window, above an RSSI threshold (weaker signals come from the corridor next door). Phones alone cannot
be exact: whether a person carries a phone that probes is a coin flip no window undoes (docs/edge.md,
"Where the error comes from"). The zone's queue screens know part of the answer exactly: tickets
waiting, and tickets called to a counter and not yet finished. So each zone gets a calibrated linear model
(``fit_zones_linear``) over these features (``ZoneFeatures``):

- ``universal`` / ``randomised``: distinct burnt-in / locally administered (randomised) MAC hashes heard
  in the window; ``*_recent``: the same in the last half of the window (people who just left are not in
  it, so together the two let each zone find its own dwell correction);
- ``waiting``: tickets waiting at the zone's queues (queue screens' telemetry);
- ``at_counter``: tickets called to a counter and not yet served or marked no-show (the screens' ticket
  events; at most the counters open).

When a zone's screens are silent (a fault, no screen) its phones-only weights are used instead; a zone
without fitted weights falls back to the global formula ``(universal + randomised / random_mac_factor)
/ phone_ratio × zone_factor``. ``OccupancyEstimator`` is the pure model (scikit-learn style: ``fit`` /
``predict``); ``ZoneWindows`` holds the sliding windows and queue readings the agent feeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

PHONE_FEATURES = ("universal", "randomised", "universal_recent", "randomised_recent")
QUEUE_FEATURES = ("waiting", "at_counter")
FEATURES = PHONE_FEATURES + QUEUE_FEATURES
# Upper bound of the fitted queue weights: a ticket is at most one person (companions and anyone else are
# what the phones see), so the queue weights cannot absorb a day's level as an offset.
QUEUE_WEIGHT_MAX = 1.0
# A queue screen reports every 5 to 30 s (device contract); older than this, its zone falls back to phones.
QUEUE_STALE_MS = 60_000
# A ticket called to a counter whose end (served, no-show) was never seen stops counting after this long.
AT_COUNTER_MAX_MS = 60 * 60_000


@dataclass(frozen=True)
class ZoneFeatures:
    """What the edge knows about one zone at one instant (the inputs of the estimator)."""

    universal: int = 0
    randomised: int = 0
    universal_recent: int = 0
    randomised_recent: int = 0
    waiting: int = 0
    at_counter: int = 0
    queues_fresh: bool = False  # the zone's queue screens all reported within QUEUE_STALE_MS

    def vector(self, names: Sequence[str] = FEATURES) -> list[float]:
        return [float(getattr(self, n)) for n in names]


def check_weights(weights: Mapping[str, Mapping[str, float]], where: str) -> dict[str, dict[str, float]]:
    """Per-zone weights as configured: known feature names, numbers; a clear error otherwise."""
    out: dict[str, dict[str, float]] = {}
    for zone, w in weights.items():
        if not isinstance(w, Mapping):
            raise ValueError(f"{where}.{zone}: expected a table of feature weights, got {w!r}")
        unknown = sorted(set(w) - set(FEATURES))
        if unknown:
            raise ValueError(f"{where}.{zone}: unknown feature(s) {unknown}; known: {list(FEATURES)}")
        try:
            out[str(zone)] = {str(k): float(v) for k, v in w.items()}
        except (TypeError, ValueError):
            raise ValueError(f"{where}.{zone}: weights must be numbers, got {dict(w)!r}") from None
    return out


@dataclass
class OccupancyEstimator:
    """Per-zone linear model where fitted, else the global formula (see the module docstring).

    ``zone_factors`` (default 1) scale the global formula per zone; ``zone_weights`` (with the queue
    screens) and ``zone_phone_weights`` (phones only) are the per-zone linear models. The fitted values come
    from the calibration file (edge/calibration_store.py); the defaults below are the one uncalibrated
    estimator, used when there is no usable file."""

    phone_ratio: float = 0.8
    random_mac_factor: float = 2.0
    zone_factors: dict[str, float] = field(default_factory=dict)
    zone_weights: dict[str, dict[str, float]] = field(default_factory=dict)
    zone_phone_weights: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.zone_weights = check_weights(self.zone_weights, "occupancy_zone_weights")
        self.zone_phone_weights = check_weights(self.zone_phone_weights, "occupancy_zone_phone_weights")

    # -- prediction --------------------------------------------------------------------------------------

    def predict(self, universal: np.ndarray | Sequence[float], randomised: np.ndarray | Sequence[float],
                zones: Sequence[str] | None = None) -> np.ndarray:
        """The global formula (with zone factors if ``zones`` is given)."""
        u = np.asarray(universal, dtype=float)
        r = np.asarray(randomised, dtype=float)
        base = (u + r / self.random_mac_factor) / self.phone_ratio
        if zones is None:
            return base
        return base * np.array([self.zone_factors.get(z, 1.0) for z in zones])

    def predict_one(self, universal: int, randomised: int, zone: str = "") -> float:
        return self.zone_factors.get(zone, 1.0) * (universal + randomised / self.random_mac_factor) / self.phone_ratio

    def weights_for(self, zone: str, f: ZoneFeatures) -> dict[str, float] | None:
        """The zone's model for these inputs: fused if its screens are fresh, else phones only."""
        w = self.zone_weights.get(zone)
        if w is not None and (f.queues_fresh or not any(w.get(k, 0.0) for k in QUEUE_FEATURES)):
            return w
        return self.zone_phone_weights.get(zone)

    def predict_zone(self, zone: str, f: ZoneFeatures) -> float:
        """People in ``zone`` now (never negative)."""
        w = self.weights_for(zone, f)
        if w is None:
            return self.predict_one(f.universal, f.randomised, zone)
        return max(0.0, sum(v * float(getattr(f, k)) for k, v in w.items()))

    # -- fitting -----------------------------------------------------------------------------------------

    def fit(self, universal: Sequence[float], randomised: Sequence[float], occupancy: Sequence[float]) -> "OccupancyEstimator":
        """Global formula: least squares of the true occupancy on the two counts (no intercept: no phones,
        no people)."""
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
        """Per-zone factors of the global formula after ``fit``: true over estimated people, summed."""
        base = self.predict(universal, randomised)
        num: dict[str, float] = {}
        den: dict[str, float] = {}
        for z, p, y in zip(zones, base, occupancy):
            num[z] = num.get(z, 0.0) + float(y)
            den[z] = den.get(z, 0.0) + float(p)
        self.zone_factors = {z: round(num[z] / den[z], 3) for z in sorted(num) if den[z] > 0}
        return self

    def fit_zones_linear(self, zones: Sequence[str], features: Sequence[ZoneFeatures],
                         occupancy: Sequence[float]) -> "OccupancyEstimator":
        """Per-zone weights by bounded least squares: phone weights >= 0, queue weights in [0, 1].

        Both models are fitted for each zone: with the queue screens (on the minutes their readings were
        fresh; only for zones that have screens) and phones only (every minute, the fallback)."""
        from scipy.optimize import lsq_linear  # scikit-learn's own dependency; only calibration needs it

        by_zone: dict[str, list[int]] = {}
        for i, z in enumerate(zones):
            by_zone.setdefault(z, []).append(i)
        y_all = np.asarray(occupancy, float)
        fused: dict[str, dict[str, float]] = {}
        phones: dict[str, dict[str, float]] = {}
        for zone in sorted(by_zone):
            idx = by_zone[zone]
            phones[zone] = _bounded_fit([features[i] for i in idx], y_all[idx], PHONE_FEATURES, lsq_linear)
            fresh = [i for i in idx if features[i].queues_fresh]
            if len(fresh) >= len(FEATURES) * 10:
                fused[zone] = _bounded_fit([features[i] for i in fresh], y_all[fresh], FEATURES, lsq_linear)
        self.zone_weights = fused
        self.zone_phone_weights = phones
        return self


def _bounded_fit(rows: list[ZoneFeatures], y: np.ndarray, names: Sequence[str], lsq_linear: Any) -> dict[str, float]:
    x = np.array([f.vector(names) for f in rows], float)
    upper = np.array([QUEUE_WEIGHT_MAX if n in QUEUE_FEATURES else np.inf for n in names])
    w = lsq_linear(x, y, bounds=(np.zeros(len(names)), upper)).x
    return {n: round(float(v), 3) for n, v in zip(names, w)}


@dataclass
class _Window:
    last_seen: dict[str, tuple[int, bool]] = field(default_factory=dict)  # mac_hash -> (ts_ms, randomised)


@dataclass
class _QueueReading:
    ts_ms: int
    waiting: int
    counters_open: int


TICKET_ENDS = ("ticket_served", "ticket_no_show")


class ZoneWindows:
    """Sliding windows of sightings per zone, and the latest reading of each queue screen.

    ``counts`` forgets sightings older than the window; ``features`` adds the recent half-window and
    the queues."""

    def __init__(self, window_s: float, rssi_min: int) -> None:
        self.window_ms = int(window_s * 1000)
        self.recent_ms = self.window_ms // 2
        self.rssi_min = rssi_min
        self.zones: dict[str, _Window] = {}
        self.queues: dict[str, dict[str, _QueueReading]] = {}  # zone -> queue -> latest reading
        self.called: dict[str, dict[str, dict[str, int]]] = {}  # zone -> queue -> ticket -> ts called
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

    def observe_queue(self, zone: str, device_id: str, ts_ms: int, data: Mapping[str, Any]) -> bool:
        """Record a queue screen's telemetry (``waiting``, ``counters_open``) or ticket event (validated by
        the contract); keyed by its queue, so two screens showing one queue count it once. False if
        unusable."""
        if "event" in data:
            return self._ticket_event(zone, str(data.get("queue") or device_id), ts_ms, data)
        try:
            queue = str(data.get("queue") or device_id)
            reading = _QueueReading(int(ts_ms), max(0, int(data["waiting"])), max(0, int(data["counters_open"])))
        except (KeyError, TypeError, ValueError):
            return False
        if not zone:
            return False
        per_zone = self.queues.setdefault(zone, {})
        prev = per_zone.get(queue)
        if prev is None or prev.ts_ms <= reading.ts_ms:
            per_zone[queue] = reading
        return True

    def _ticket_event(self, zone: str, queue: str, ts_ms: int, data: Mapping[str, Any]) -> bool:
        event, ticket = data.get("event"), data.get("ticket")
        if not zone or not isinstance(ticket, str):
            return False
        tickets = self.called.setdefault(zone, {}).setdefault(queue, {})
        if event == "ticket_called":
            tickets[ticket] = int(ts_ms)
        elif event in TICKET_ENDS:
            tickets.pop(ticket, None)
        else:
            return False
        return True

    def counts(self, zone: str, now_ms: int) -> tuple[int, int]:
        """(universal, randomised) distinct hashes seen in (now - window, now]."""
        f = self.features(zone, now_ms)
        return f.universal, f.randomised

    def features(self, zone: str, now_ms: int) -> ZoneFeatures:
        """Everything the estimator takes for ``zone`` at ``now_ms``."""
        u = r = u_recent = r_recent = 0
        w = self.zones.get(zone)
        if w is not None:
            cutoff = now_ms - self.window_ms
            recent = now_ms - self.recent_ms
            stale = [h for h, (ts, _) in w.last_seen.items() if ts <= cutoff]
            for h in stale:
                del w.last_seen[h]
            for ts, rnd in w.last_seen.values():
                if ts > now_ms:
                    continue
                if rnd:
                    r += 1
                    r_recent += ts > recent
                else:
                    u += 1
                    u_recent += ts > recent
        waiting = at_counter = 0
        queues = self.queues.get(zone, {})
        called = self.called.get(zone, {})
        fresh = bool(queues)
        for name, q in queues.items():
            if now_ms - q.ts_ms > QUEUE_STALE_MS:
                fresh = False
            waiting += q.waiting
            tickets = called.get(name)
            if tickets:
                for t in [t for t, ts in tickets.items() if now_ms - ts > AT_COUNTER_MAX_MS]:
                    del tickets[t]
                at_counter += min(q.counters_open, sum(1 for ts in tickets.values() if ts <= now_ms))
        return ZoneFeatures(u, r, u_recent, r_recent, waiting, at_counter, fresh)
