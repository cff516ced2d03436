"""What a Wi-Fi probe hears, from the patients' phones (the MQTT and the serial probe alike).

Phones send probe requests every half-minute or so; a probe hears those of the phones in its zone
(RSSI around -62 dBm) and, faintly, some phones in other zones of the same floor (below -85 dBm, what
the edge's RSSI threshold is for).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

PROBE_REQUEST_EVERY_S = 40.0
BLEED_SHARE = 0.03

PhoneLookup = Callable[[str], list[str]]  # zone -> MACs of the phones there


class Hearing:
    """What a probe in ``zone`` hears between two instants, from the patients' phones."""

    def __init__(self, zone: str, neighbours: list[str], phones_in: PhoneLookup) -> None:
        self.zone = zone
        self.neighbours = neighbours
        self.phones_in = phones_in

    def sightings(self, t0_ms: int, t1_ms: int, rng: np.random.Generator) -> list[tuple[str, int, int]]:
        """(mac, rssi, ts) sorted by time."""
        span = max(1, t1_ms - t0_ms)
        p = 1.0 - float(np.exp(-span / 1000.0 / PROBE_REQUEST_EVERY_S))
        out: list[tuple[str, int, int]] = []
        near = self.phones_in(self.zone)
        if near:
            heard = rng.random(len(near)) < p
            rssi = np.clip(rng.normal(-62, 9, len(near)), -84, -30).astype(int)
            ts = t0_ms + rng.integers(0, span, len(near))
            out.extend((m, int(r), int(t)) for m, h, r, t in zip(near, heard, rssi, ts) if h)
        far = [m for z in self.neighbours for m in self.phones_in(z)]
        if far:
            heard = rng.random(len(far)) < p * BLEED_SHARE
            rssi = rng.integers(-95, -85, len(far))
            ts = t0_ms + rng.integers(0, span, len(far))
            out.extend((m, int(r), int(t)) for m, h, r, t in zip(far, heard, rssi, ts) if h)
        out.sort(key=lambda s: s[2])
        return out
