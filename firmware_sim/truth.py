"""Ground truth of the live simulation, per zone and 15-minute bucket (same columns as the history)."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

BUCKET_MS = 15 * 60 * 1000


@dataclass(frozen=True)
class TruthRow:
    ts: str  # bucket start, ISO 8601 with the site's offset
    zone: str
    arrivals: int
    occupancy: float
    waiting: int


class TruthRecorder:
    """Sums each minute's state into the bucket; a finished bucket becomes rows (and CSV lines)."""

    def __init__(self, zones: list[str], tz: ZoneInfo, csv_path: Path | None = None) -> None:
        self.zones = zones
        self.tz = tz
        self.csv_path = csv_path
        self.rows: list[TruthRow] = []
        self.current: dict[str, dict[str, float]] = {}
        self._bucket: int | None = None
        self._arr = np.zeros(len(zones))
        self._occ = np.zeros(len(zones))
        self._wait = np.zeros(len(zones))
        self._n = 0
        if csv_path is not None:
            csv_path.parent.mkdir(parents=True, exist_ok=True)
            if not csv_path.exists():
                csv_path.write_text("ts,zone,arrivals,occupancy,waiting\n", encoding="utf-8")

    def record(self, t_ms: int, arrivals: np.ndarray, population: np.ndarray, waiting: np.ndarray) -> None:
        bucket = t_ms // BUCKET_MS
        if self._bucket is not None and bucket != self._bucket:
            self._close()
        self._bucket = bucket
        self._arr += arrivals
        self._occ += population
        self._wait += waiting
        self._n += 1
        self.current = {
            z: {"occupancy": float(population[i]), "waiting": int(waiting[i])} for i, z in enumerate(self.zones)
        }

    def _close(self) -> None:
        assert self._bucket is not None
        ts = dt.datetime.fromtimestamp(self._bucket * BUCKET_MS / 1000, self.tz).isoformat()
        n = max(self._n, 1)
        new = [
            TruthRow(ts, z, int(self._arr[i]), round(float(self._occ[i] / n), 2), int(round(self._wait[i] / n)))
            for i, z in enumerate(self.zones)
        ]
        self.rows.extend(new)
        del self.rows[: max(0, len(self.rows) - 96 * 7 * len(self.zones))]  # keep a week in memory
        if self.csv_path is not None:
            with open(self.csv_path, "a", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                for r in new:
                    w.writerow([r.ts, r.zone, r.arrivals, f"{r.occupancy:.2f}", r.waiting])
        self._arr[:] = 0
        self._occ[:] = 0
        self._wait[:] = 0
        self._n = 0
