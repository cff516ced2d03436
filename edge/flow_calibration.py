"""The flow calibration as an artifact: per zone, the share of back-and-forth detours the edge sees.

Why: a lost patient's first look around a zone lasts a minute or two, and a phone probes about once or
twice a minute, so some detours (A -> B -> A) are not heard in A and read as a plain walk to B: the edge
under-counts wandering by that share. It is learned, like the occupancy weights (edge/calibration_store.py),
from ground truth: ``python -m centre calibrate-flows`` fits it on the simulator's lost patients (in a
hospital: a few hours of staff counting the patients they see turn back), and only means something with
the settings it was fitted under (RSSI bound, wander window, service time), for the site's zones. The file
carries those, the fit's days and seeds, and the error on held-out days.

What the edge does with a file that does not fit (docs/edge.md, "Flow calibration"): it keeps running and
publishes what it saw, uncorrected (``detection`` 1.0). Missing, corrupt, another version, another site or
other settings: every zone uncorrected; a zone of the file the site does not have is ignored. Each problem is
one log line and one count of ``edge_flow_calibration_problems_total{problem}``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from floorops.site import Site

from edge.calibration_store import CalibrationError, read_artifact, write_artifact
from edge.processors.flows import FlowSettings

SCHEMA = "floorops.flow_calibration"
VERSION = 1
SETTINGS = ("rssi_min", "wander_window_s", "service_min_s")  # what the detection share depends on


@dataclass
class FlowCalibration:
    site: str
    settings: dict[str, float]  # SETTINGS, as the edge ran when fitted
    detection: dict[str, float]  # zone -> share of its detours seen, in (0, 1]
    fitted_at: str = ""  # ISO 8601, UTC
    fit: dict[str, Any] = field(default_factory=dict)  # {"source", "days", "seeds", "hours", "scenarios"}
    heldout: dict[str, Any] = field(default_factory=dict)  # {"days", "seeds", "hours", "wandering", "transitions"}

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "version": VERSION, "site": self.site, "settings": self.settings,
                "fitted_at": self.fitted_at, "detection": dict(sorted(self.detection.items())),
                "fit": self.fit, "heldout": self.heldout}


def settings_of(flows: FlowSettings) -> dict[str, float]:
    return {name: float(getattr(flows, name)) for name in SETTINGS}


def save(cal: FlowCalibration, path: str | Path) -> Path:
    if not cal.fitted_at:
        cal.fitted_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return write_artifact(cal.to_json(), path)


def read(path: str | Path) -> FlowCalibration:
    """The file as :func:`save` wrote it; CalibrationError (missing, corrupt, version) naming the file."""
    p = Path(path)
    raw = read_artifact(p, SCHEMA, VERSION, "flow calibration", "python -m centre calibrate-flows")
    try:
        detection = {str(z): float(d) for z, d in raw["detection"].items()}
        settings = {name: float(raw["settings"][name]) for name in SETTINGS}
        cal = FlowCalibration(str(raw["site"]), settings, detection, str(raw.get("fitted_at", "")),
                              dict(raw.get("fit", {})), dict(raw.get("heldout", {})))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CalibrationError("corrupt", f"{p}: flow calibration fields missing or of the wrong type "
                                          f"({type(exc).__name__}: {exc})") from None
    bad = sorted(z for z, d in detection.items() if not (math.isfinite(d) and 0.0 < d <= 1.0))
    if bad:
        raise CalibrationError("corrupt", f"{p}: detection shares must be in (0, 1]; not so for {', '.join(bad)}")
    return cal


@dataclass
class LoadedFlows:
    """What the edge runs with (empty: uncorrected), and the problems (logged, counted)."""

    detection: dict[str, float]  # zone -> share of its detours seen
    calibration: FlowCalibration | None
    problems: list[tuple[str, str]] = field(default_factory=list)


def load_for_site(path: str | Path, site: Site, flows: FlowSettings) -> LoadedFlows:
    """The file's shares for the site's zones; never raises (see the module doc)."""
    try:
        cal = read(path)
        if cal.site != site.id:
            raise CalibrationError("wrong_site", f"{path}: fitted for site {cal.site!r}, this edge serves {site.id!r}")
        if cal.settings != settings_of(flows):
            raise CalibrationError("settings", f"{path}: fitted with {cal.settings}, the edge runs with "
                                               f"{settings_of(flows)}")
    except CalibrationError as exc:
        return LoadedFlows({}, None, [(exc.problem, f"{exc}; wandering is published as seen, uncorrected")])
    zones = {z.id for z in site.zones}
    problems = [("unknown_zone", f"{path}: zone {z!r} is not a zone of site {site.id!r}; ignored")
                for z in sorted(set(cal.detection) - zones)]
    return LoadedFlows({z: d for z, d in cal.detection.items() if z in zones}, cal, problems)
