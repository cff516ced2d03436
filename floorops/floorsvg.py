"""A floor's plan drawn in an SVG file (``[[floors]] svg = "floor1.svg"``, docs/site.md "Floor plan").

Read once when the site file loads and turned into the same polygons as the TOML form, so the hub and the
console never handle the file itself (no drawing of a third party's markup in the browser). What is read:
``<polygon>``, ``<polyline>`` and ``<rect>`` elements whose ``id`` is a zone id (its shape), ``id="outline"``
(the building's outline), class ``corridor`` (corridors), class ``lift`` on a ``<rect>`` or ``<circle>``
(stairs and lifts, their centres). Coordinates are scaled from the ``viewBox`` to the floor's 0..100 units
on both axes. Anything else in the file is ignored; a transform on an element that is read is an error
(flatten it in the editor).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

Point = tuple[float, float]
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class FloorSvgError(ValueError):
    """The SVG cannot be read as a floor plan."""


@dataclass
class SvgPlan:
    shapes: dict[str, tuple[Point, ...]] = field(default_factory=dict)  # element id -> polygon (floor units)
    outline: tuple[Point, ...] = ()
    corridors: list[tuple[Point, ...]] = field(default_factory=list)
    lifts: list[Point] = field(default_factory=list)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _numbers(text: str | None, what: str) -> list[float]:
    if text is None:
        raise FloorSvgError(f"{what} is missing")
    return [float(n) for n in NUMBER.findall(text)]


def read_floor_svg(path: Path, zone_ids: set[str]) -> SvgPlan:
    """The shapes of ``path``: zone polygons for the ids in ``zone_ids``, outline, corridors and lifts."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise FloorSvgError(f"no such file {path}") from None
    except ET.ParseError as exc:
        raise FloorSvgError(f"{path.name} is not well-formed XML: {exc}") from None
    if _local(root.tag) != "svg":
        raise FloorSvgError(f"{path.name}: the root element is <{_local(root.tag)}>, not <svg>")
    box = _numbers(root.get("viewBox"), f"{path.name}: viewBox")
    if len(box) != 4 or box[2] <= 0 or box[3] <= 0:
        raise FloorSvgError(f"{path.name}: viewBox must be 'min-x min-y width height' with a positive size")
    min_x, min_y, width, height = box

    def scale(x: float, y: float) -> Point:
        return (round((x - min_x) / width * 100, 3), round((y - min_y) / height * 100, 3))

    plan = SvgPlan()
    for el in root.iter():
        tag, el_id, classes = _local(el.tag), el.get("id", ""), set((el.get("class") or "").split())
        wanted = el_id in zone_ids or el_id == "outline" or "corridor" in classes or "lift" in classes
        if not wanted or tag not in ("polygon", "polyline", "rect", "circle"):
            continue
        what = f"{path.name}: <{tag} id={el_id!r}>" if el_id else f"{path.name}: <{tag} class={el.get('class')!r}>"
        if el.get("transform"):
            raise FloorSvgError(f"{what} has a transform; flatten it (apply the transform) in the editor")
        if tag == "circle":
            cx, cy = (_numbers(el.get(a), f"{what} {a}") for a in ("cx", "cy"))
            if "lift" in classes and len(cx) == 1 and len(cy) == 1:
                plan.lifts.append(scale(cx[0], cy[0]))
            continue
        if tag == "rect":
            x, y, w, h = (_numbers(el.get(a, "0"), f"{what} {a}") for a in ("x", "y", "width", "height"))
            if not all(len(v) == 1 for v in (x, y, w, h)):
                raise FloorSvgError(f"{what}: x, y, width and height must be numbers")
            corners = [(x[0], y[0]), (x[0] + w[0], y[0]), (x[0] + w[0], y[0] + h[0]), (x[0], y[0] + h[0])]
        else:
            coords = _numbers(el.get("points"), f"{what} points")
            if len(coords) % 2:
                raise FloorSvgError(f"{what}: points must be x,y pairs")
            corners = list(zip(coords[::2], coords[1::2]))
        shape = tuple(scale(x_, y_) for x_, y_ in corners)
        if "lift" in classes:
            plan.lifts.append((round(sum(p[0] for p in shape) / len(shape), 3),
                               round(sum(p[1] for p in shape) / len(shape), 3)))
        elif el_id == "outline":
            plan.outline = shape
        elif "corridor" in classes:
            plan.corridors.append(shape)
        else:
            if el_id in plan.shapes:
                raise FloorSvgError(f"{what}: zone {el_id} has two shapes")
            plan.shapes[el_id] = shape
    return plan
