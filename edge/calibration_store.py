"""The occupancy calibration as an artifact: one JSON file per site, checked against the site when loaded.

Why a file of its own and not settings: the weights are learned, like the forecasting models
(models/store.py), and only mean something with what they were fitted under: the sliding window, the RSSI
bound, the site and its probe zones, the days and seeds, and the error on a held-out day. The file carries
all of it, so the edge can refuse weights fitted for something else instead of publishing wrong counts.
JSON, not a pickle: it runs no code when read, and a re-calibration shows as a readable diff.

What the edge does with a file that does not fit (docs/edge.md, "Calibration file"): it keeps running and
counting people. A file that cannot be used at all (missing, corrupt, another schema version, another site,
another window or RSSI bound) gives the uncalibrated global formula for every zone; a zone of the file the
site does not have is ignored; a probe zone of the site the file lacks gets the file's global formula.
Each problem is one log line and one count of ``edge_occupancy_calibration_problems_total{problem}``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from floorops.site import Site

from edge.kinds import probe_zones
from edge.processors.occupancy import OccupancyEstimator

log = logging.getLogger(__name__)

SCHEMA = "floorops.occupancy_calibration"
VERSION = 1


class CalibrationError(ValueError):
    """The calibration file cannot be used at all; ``problem`` is the metric's label."""

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass
class Calibration:
    """A fitted estimator with what it was fitted under and how well it did on a held-out day."""

    site: str
    zones: list[str]  # the probe zones it was fitted for
    window_s: float
    rssi_min: int
    estimator: OccupancyEstimator
    fitted_at: str = ""  # ISO 8601, UTC
    fit: dict[str, Any] = field(default_factory=dict)  # {"source", "days", "seeds", "hours"}
    test: dict[str, Any] = field(default_factory=dict)  # same, of the held-out day, with "peak_hours"
    heldout_mape: dict[str, Any] = field(default_factory=dict)  # {"zone_minute", ..., "per_zone": {zone: [m, b]}}

    def to_json(self) -> dict[str, Any]:
        e = self.estimator
        return {
            "schema": SCHEMA, "version": VERSION, "site": self.site, "zones": sorted(self.zones),
            "settings": {"window_s": self.window_s, "rssi_min": self.rssi_min},
            "fitted_at": self.fitted_at, "fit": self.fit, "test": self.test, "heldout_mape": self.heldout_mape,
            "estimator": {"phone_ratio": e.phone_ratio, "random_mac_factor": e.random_mac_factor,
                          "zone_factors": dict(sorted(e.zone_factors.items())),
                          "zone_weights": dict(sorted(e.zone_weights.items())),
                          "zone_phone_weights": dict(sorted(e.zone_phone_weights.items()))},
        }


def save(cal: Calibration, path: str | Path) -> Path:
    """Write the file atomically (a reader never sees half of it), one key per line for readable diffs."""
    if not cal.fitted_at:
        cal.fitted_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return write_artifact(cal.to_json(), path)


def write_artifact(data: dict[str, Any], path: str | Path) -> Path:
    """A learned artifact as JSON, atomically: a reader never sees half of it. One key per line for diffs."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def read_artifact(path: str | Path, schema: str, version: int, what: str, command: str) -> dict[str, Any]:
    """A learned artifact's JSON, checked for its schema and version; CalibrationError naming the file."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError("missing", f"{p}: no such {what} file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CalibrationError("corrupt", f"{p}: not a readable JSON file ({exc})") from None
    if not isinstance(raw, dict) or raw.get("schema") != schema:
        raise CalibrationError("corrupt", f"{p}: not an {what} (schema is not {schema!r})")
    if raw.get("version") != version:
        raise CalibrationError("version", f"{p}: {what} version {raw.get('version')!r}; this edge reads "
                                          f"version {version} (run `{command}` again)")
    return raw


def read(path: str | Path) -> Calibration:
    """The file as written by :func:`save`; CalibrationError (missing, corrupt, version) naming the file."""
    p = Path(path)
    raw = read_artifact(p, SCHEMA, VERSION, "occupancy calibration", "python -m centre calibrate")
    try:
        e, s = raw["estimator"], raw["settings"]
        estimator = OccupancyEstimator(float(e["phone_ratio"]), float(e["random_mac_factor"]),
                                       {str(k): float(v) for k, v in e["zone_factors"].items()},
                                       e["zone_weights"], e["zone_phone_weights"])
        return Calibration(str(raw["site"]), [str(z) for z in raw["zones"]], float(s["window_s"]),
                           int(s["rssi_min"]), estimator, str(raw.get("fitted_at", "")), dict(raw.get("fit", {})),
                           dict(raw.get("test", {})), dict(raw.get("heldout_mape", {})))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CalibrationError("corrupt", f"{p}: calibration fields missing or of the wrong type "
                                          f"({type(exc).__name__}: {exc})") from None


def check(cal: Calibration, site: Site, window_s: float, rssi_min: int, path: str | Path = "") -> None:
    """CalibrationError if the calibration was fitted for another site, window or RSSI bound."""
    if cal.site != site.id:
        raise CalibrationError("wrong_site", f"{path}: fitted for site {cal.site!r}, this edge serves {site.id!r}")
    if cal.window_s != window_s or cal.rssi_min != rssi_min:
        raise CalibrationError("settings", f"{path}: fitted with occupancy_window_s={cal.window_s:g} and "
                                           f"occupancy_rssi_min={cal.rssi_min}, the edge runs with "
                                           f"{window_s:g} and {rssi_min}")


@dataclass
class Loaded:
    """What the edge runs with, and what was wrong with the file (``(problem, message)``, logged and counted)."""

    estimator: OccupancyEstimator
    calibration: Calibration | None
    problems: list[tuple[str, str]] = field(default_factory=list)


def load_for_site(path: str | Path, site: Site, window_s: float, rssi_min: int) -> Loaded:
    """The estimator the edge runs with: the file's, cut to the site's zones; never raises (see module doc)."""
    try:
        cal = read(path)
        check(cal, site, window_s, rssi_min, path)
    except CalibrationError as exc:
        return Loaded(OccupancyEstimator(), None, [(exc.problem, f"{exc}; every zone uses the uncalibrated "
                                                                 "global formula")])
    problems: list[tuple[str, str]] = []
    site_zones = {z.id for z in site.zones}
    e = cal.estimator
    for zone in sorted(set(cal.zones) | set(e.zone_weights) | set(e.zone_phone_weights) | set(e.zone_factors)):
        if zone not in site_zones:
            problems.append(("unknown_zone", f"{path}: zone {zone!r} is not a zone of site {site.id!r}; "
                                             "its weights are ignored"))
            for table in (e.zone_factors, e.zone_weights, e.zone_phone_weights):
                table.pop(zone, None)
    for zone in sorted(probe_zones(site.devices) - set(e.zone_phone_weights)):
        problems.append(("missing_zone", f"{path}: probe zone {zone!r} has no fitted weights; it uses the "
                                         "global formula"))
    return Loaded(e, cal, problems)
