"""The site description: zones, queues, time zone, holidays and the device inventory (docs/site.md).

Shared by the simulator (what to simulate), the edge (which zone a device is in) and the hub (zones
with their capacity, the floor plan). A broken file fails with a message naming the entry at fault.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from floorops.contract import ID_RE
from floorops.config import Config
from floorops.floorsvg import FloorSvgError, read_floor_svg
from floorops.kinds import BUILTIN, TRANSPORTS, KindError, KindRegistry, from_plugins

Point = tuple[float, float]

ZONE_KINDS = (
    "registration", "payment", "clinic", "lab", "imaging", "pharmacy", "paediatrics", "emergency", "entrance",
    "corridor", "inpatient", "other",
)


class SiteError(ValueError):
    """The site description is invalid."""


@dataclass(frozen=True)
class Zone:
    id: str
    name: str
    kind: str
    capacity: int
    building: str = "main"
    floor: int = 1
    name_zh: str = ""
    # Floor-plan rectangle in the floor's own units (0..100), for the console.
    x: float = 0
    y: float = 0
    w: float = 10
    h: float = 10
    # Floor-plan shape (same units); empty: the console draws the rectangle above.
    polygon: tuple[Point, ...] = ()
    # The zone people walk in through to reach this one (the main entrance hall): a phone the edge first
    # hears here crossed it unheard, and the edge counts that walk (edge.processors.flows). Empty: people
    # may come from outside straight here (the emergency department), or were here overnight (a ward).
    entered_via: str = ""


@dataclass(frozen=True)
class Floor:
    """A floor's drawing: its outline, corridors and stair/lift cores, in the zones' 0..100 floor units.

    Optional: a floor without an entry is drawn from its zones alone (the console's fallback)."""

    number: int
    name: str = ""
    name_zh: str = ""
    outline: tuple[Point, ...] = ()
    corridors: tuple[tuple[Point, ...], ...] = ()
    # Stairs and lifts: where the console draws flows that go to or come from another floor.
    lifts: tuple[Point, ...] = ()
    # An SVG drawing of the floor, relative to the site file (floorops.floorsvg): read into the fields above
    # and the zones' polygons when the site loads.
    svg: str = ""


@dataclass(frozen=True)
class Queue:
    id: str
    zone: str
    name: str
    counters: int = 1
    service_min: float = 5.0  # mean handling time, minutes
    name_zh: str = ""
    # Queues with the same group serve the same patients (two ultrasound rooms): the hub's queue screens
    # send patients from one to another when a room is crowded or its screen fails (hub.rules.screens).
    group: str = ""


@dataclass(frozen=True)
class Device:
    id: str
    kind: str
    zone: str
    transport: str = "mqtt"
    queue: str = ""  # queue screens: the queue they display
    unit_id: int = 0  # chargers: Modbus unit id
    slots: int = 0  # chargers: number of slots
    port: str = ""  # serial devices: bus name (several units may share one RS-485 bus)


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    timezone: str
    zones: tuple[Zone, ...]
    queues: tuple[Queue, ...]
    devices: tuple[Device, ...]
    holidays: tuple[dt.date, ...] = ()
    floors: tuple[Floor, ...] = ()
    buildings: tuple[str, ...] = ("main",)
    name_zh: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # The device kinds the site was checked against (floorops.kinds): the built-in ones and its plugins.
    kinds: KindRegistry = BUILTIN

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def zone(self, zone_id: str) -> Zone:
        for z in self.zones:
            if z.id == zone_id:
                return z
        raise KeyError(zone_id)

    def device(self, device_id: str) -> Device:
        for d in self.devices:
            if d.id == device_id:
                return d
        raise KeyError(device_id)

    def devices_of(self, kind: str) -> list[Device]:
        return [d for d in self.devices if d.kind == kind]


def _take(entry: dict[str, Any], cls: type[Any], where: str) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = set(entry) - names
    if unknown:
        raise SiteError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    try:
        return cls(**entry)
    except TypeError as exc:
        raise SiteError(f"{where}: {exc}") from None


def _point(value: Any, where: str) -> Point:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in value)):
        raise SiteError(f"{where}: a point is [x, y], two numbers; got {value!r}")
    x, y = float(value[0]), float(value[1])
    if not (0 <= x <= 100 and 0 <= y <= 100):
        raise SiteError(f"{where}: point [{x:g}, {y:g}] is outside the floor's 0..100 units")
    return (x, y)


def _polygon(value: Any, where: str) -> tuple[Point, ...]:
    """A list of at least three [x, y] points inside the floor (a shape the console can fill)."""
    if not isinstance(value, (list, tuple)) or len(value) < 3:
        raise SiteError(f"{where}: a polygon needs at least 3 points [[x, y], ...]")
    return tuple(_point(p, where) for p in value)


def _floors(data: Any, source: str, zones: tuple[Zone, ...], base: Path | None
            ) -> tuple[tuple[Floor, ...], dict[str, tuple[Point, ...]]]:
    """The [[floors]] entries, and the zone shapes their SVG files draw (zone id -> polygon)."""
    zone_floors = {z.floor for z in zones}
    svg_shapes: dict[str, tuple[Point, ...]] = {}
    if not isinstance(data, list):
        raise SiteError(f"{source}: floors must be an array of tables [[floors]]")
    floors: list[Floor] = []
    for i, entry in enumerate(data):
        where = f"{source}: floors[{i}]"
        if not isinstance(entry, dict):
            raise SiteError(f"{where}: must be a table")
        f = _take(entry, Floor, where)
        if not isinstance(f.number, int) or isinstance(f.number, bool):
            raise SiteError(f"{where}: number must be an integer")
        if f.number not in zone_floors:
            raise SiteError(f"{where}: no zone is on floor {f.number}")
        if any(other.number == f.number for other in floors):
            raise SiteError(f"{where}: floor {f.number} is declared twice")
        if not isinstance(f.corridors, (list, tuple)) or not isinstance(f.lifts, (list, tuple)):
            raise SiteError(f"{where}: corridors is a list of polygons, lifts a list of [x, y] points")
        f = replace(
            f, name=str(f.name), name_zh=str(f.name_zh), svg=str(f.svg),
            outline=_polygon(f.outline, f"{where} outline") if f.outline else (),
            corridors=tuple(_polygon(c, f"{where} corridors[{k}]") for k, c in enumerate(f.corridors)),
            lifts=tuple(_point(p, f"{where} lifts[{k}]") for k, p in enumerate(f.lifts)))
        if f.svg:
            f = _with_svg(f, where, zones, base, svg_shapes)
        floors.append(f)
    return tuple(sorted(floors, key=lambda f: f.number)), svg_shapes


def _with_svg(f: Floor, where: str, zones: tuple[Zone, ...], base: Path | None,
              svg_shapes: dict[str, tuple[Point, ...]]) -> Floor:
    """The floor with its SVG's outline, corridors and lifts added; its zone shapes go into ``svg_shapes``."""
    if base is None:
        raise SiteError(f"{where}: svg {f.svg!r} needs a site file to be relative to")
    try:
        drawn = read_floor_svg(base / f.svg, {z.id for z in zones})
    except FloorSvgError as exc:
        raise SiteError(f"{where} svg: {exc}") from None
    on_floor = {z.id for z in zones if z.floor == f.number}
    for zone_id, shape in drawn.shapes.items():
        if zone_id not in on_floor:
            raise SiteError(f"{where} svg: zone {zone_id} is drawn on floor {f.number} but is not on it")
        svg_shapes[zone_id] = _polygon(shape, f"{where} svg zone {zone_id}")
    if f.outline and drawn.outline:
        raise SiteError(f"{where}: outline is both in the site file and in {f.svg}")
    return replace(
        f, outline=f.outline or (_polygon(drawn.outline, f"{where} svg outline") if drawn.outline else ()),
        corridors=f.corridors + tuple(_polygon(c, f"{where} svg corridor") for c in drawn.corridors),
        lifts=f.lifts + tuple(_point(p, f"{where} svg lift") for p in drawn.lifts))


def parse_site(data: dict[str, Any], source: str = "site", kinds: KindRegistry = BUILTIN,
               base: Path | None = None) -> Site:
    """Build and check a :class:`Site` from the decoded TOML tables, its devices against ``kinds``; floor SVG
    files are relative to ``base`` (the site file's folder)."""
    s = data.get("site")
    if not isinstance(s, dict):
        raise SiteError(f"{source}: missing [site] table")
    for key in ("id", "name", "timezone"):
        if key not in s:
            raise SiteError(f"{source}: [site] needs {key!r}")
    if not ID_RE.match(str(s["id"])):
        raise SiteError(f"{source}: site id {s['id']!r} is not [A-Za-z0-9_-]{{1,64}}")
    try:
        ZoneInfo(s["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise SiteError(f"{source}: unknown time zone {s['timezone']!r}") from None
    zones = tuple(_take(z, Zone, f"{source}: zones[{i}]") for i, z in enumerate(data.get("zones", [])))
    queues = tuple(_take(q, Queue, f"{source}: queues[{i}]") for i, q in enumerate(data.get("queues", [])))
    devices = tuple(_take(d, Device, f"{source}: devices[{i}]") for i, d in enumerate(data.get("devices", [])))
    zone_ids = [z.id for z in zones]
    for z in zones:
        if not ID_RE.match(z.id):
            raise SiteError(f"{source}: zone id {z.id!r} is not [A-Za-z0-9_-]{{1,64}}")
        if z.kind not in ZONE_KINDS:
            raise SiteError(f"{source}: zone {z.id}: kind {z.kind!r} is not one of {', '.join(ZONE_KINDS)}")
        if z.capacity <= 0:
            raise SiteError(f"{source}: zone {z.id}: capacity must be positive")
    for z in zones:
        if z.entered_via and (z.entered_via not in zone_ids or z.entered_via == z.id):
            raise SiteError(f"{source}: zone {z.id}: entered_via {z.entered_via!r} is not another zone of the site")
    zones = tuple(replace(z, polygon=_polygon(z.polygon, f"{source}: zone {z.id} polygon") if z.polygon else ())
                  for z in zones)
    floors, svg_shapes = _floors(data.get("floors", []), source, zones, base)
    for z in zones:
        if z.id in svg_shapes and z.polygon:
            raise SiteError(f"{source}: zone {z.id}: polygon is both in the site file and in its floor's svg")
    zones = tuple(replace(z, polygon=svg_shapes[z.id]) if z.id in svg_shapes else z for z in zones)
    if len(set(zone_ids)) != len(zone_ids):
        raise SiteError(f"{source}: duplicate zone ids")
    queue_ids = {q.id for q in queues}
    for q in queues:
        if q.zone not in zone_ids:
            raise SiteError(f"{source}: queue {q.id}: unknown zone {q.zone!r}")
    seen: set[str] = set()
    for d in devices:
        where = f"{source}: device {d.id}"
        if not ID_RE.match(d.id) or d.id.startswith("floorops-"):
            raise SiteError(f"{where}: id must be [A-Za-z0-9_-]{{1,64}} and not start with 'floorops-'")
        if d.id in seen:
            raise SiteError(f"{where}: duplicate device id")
        seen.add(d.id)
        if d.kind not in kinds:
            raise SiteError(f"{where}: kind {d.kind!r} is not one of {', '.join(kinds.names)}")
        if d.transport not in TRANSPORTS:
            raise SiteError(f"{where}: transport {d.transport!r} is not one of {', '.join(TRANSPORTS)}")
        if d.transport not in kinds.get(d.kind).transports:
            raise SiteError(f"{where}: a {d.kind} connects over {', '.join(kinds.get(d.kind).transports)}, "
                            f"not {d.transport!r}")
        if d.zone not in zone_ids:
            raise SiteError(f"{where}: unknown zone {d.zone!r}")
        check = kinds.get(d.kind).check_device
        if check is not None and (wrong := check(d, frozenset(queue_ids))):
            raise SiteError(f"{where}: {wrong}")
    try:
        holidays = tuple(
            h if isinstance(h, dt.date) else dt.date.fromisoformat(str(h)) for h in s.get("holidays", [])
        )
    except ValueError as exc:
        raise SiteError(f"{source}: holidays: {exc}") from None
    known = {"id", "name", "timezone", "holidays", "buildings", "name_zh"}
    return Site(
        id=str(s["id"]), name=str(s["name"]), timezone=str(s["timezone"]), zones=zones, queues=queues,
        devices=devices, holidays=holidays, floors=floors, buildings=tuple(s.get("buildings", ["main"])),
        name_zh=str(s.get("name_zh", "")), extra={k: v for k, v in s.items() if k not in known}, kinds=kinds,
    )


def load_site(path: str | Path, kinds: KindRegistry = BUILTIN) -> Site:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SiteError(f"{p}: no such site file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SiteError(f"{p}: {exc}") from None
    return parse_site(data, str(p), kinds, base=p.parent)


def site_of(cfg: Config) -> Site:
    """The configured site (``cfg.site.file``), with the configured plugin kinds (``cfg.site.kind_plugins``):
    how every process loads it, so that all of them know the same kinds."""
    try:
        kinds = from_plugins(cfg.site.kind_plugins)
    except KindError as exc:
        raise SiteError(str(exc)) from None
    return load_site(cfg.site.file, kinds)
