"""The floor plan in the site file: zone polygons and [[floors]] (docs/site.md "Floor plan")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from floorops.config import load_config
from floorops.site import SiteError, load_site, parse_site


def site(zone: dict[str, Any] | None = None, floors: list[Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"site": {"id": "x", "name": "X", "timezone": "Asia/Shanghai"},
                            "zones": [{"id": "a", "name": "A", "kind": "clinic", "capacity": 10, **(zone or {})}]}
    if floors is not None:
        data["floors"] = floors
    return data


def test_a_zone_polygon_and_a_floor_are_read() -> None:
    s = parse_site(site({"polygon": [[0, 0], [50, 0], [50.5, 40], [0, 40]]},
                        [{"number": 1, "name": "Ground", "name_zh": "一楼", "outline": [[0, 0], [100, 0], [100, 100]],
                          "corridors": [[[0, 40], [100, 40], [100, 50], [0, 50]]], "lifts": [[30, 45]]}]))
    assert s.zones[0].polygon == ((0, 0), (50, 0), (50.5, 40), (0, 40))
    (floor,) = s.floors
    assert (floor.number, floor.name, floor.name_zh) == (1, "Ground", "一楼")
    assert floor.corridors == (((0, 40), (100, 40), (100, 50), (0, 50)),)
    assert floor.lifts == ((30, 45),)


def test_without_a_plan_zones_keep_their_rectangles() -> None:
    s = parse_site(site())
    assert s.zones[0].polygon == () and s.floors == ()


@pytest.mark.parametrize(("zone", "message"), [
    ({"polygon": [[0, 0], [10, 0]]}, "zone a polygon: a polygon needs at least 3 points"),
    ({"polygon": [[0, 0], [10, 0], [10, 120]]}, r"zone a polygon: point \[10, 120\] is outside the floor's 0..100"),
    ({"polygon": [[0, 0], [10, 0], [-1, 5]]}, "is outside the floor's 0..100 units"),
    ({"polygon": [[0, 0], [10, 0], [10]]}, r"a point is \[x, y\], two numbers; got \[10\]"),
    ({"polygon": [[0, 0], [10, 0], ["a", 3]]}, "a point is"),
    ({"polygon": "square"}, "at least 3 points"),
])
def test_bad_zone_polygons_are_refused_naming_the_zone(zone: dict[str, Any], message: str) -> None:
    with pytest.raises(SiteError, match=message):
        parse_site(site(zone))


@pytest.mark.parametrize(("floors", "message"), [
    ([{"number": 2}], r"floors\[0\]: no zone is on floor 2"),
    ([{"number": 1}, {"number": 1}], r"floors\[1\]: floor 1 is declared twice"),
    ([{"number": 1, "colour": "red"}], r"floors\[0\]: unknown keys colour"),
    ([{"name": "no number"}], r"floors\[0\]: .*number"),
    ([{"number": "1"}], "number must be an integer"),
    ([{"number": 1, "outline": [[0, 0], [1, 1]]}], r"floors\[0\] outline: a polygon needs at least 3 points"),
    ([{"number": 1, "corridors": [[[0, 0], [1, 1], [200, 1]]]}], r"floors\[0\] corridors\[0\]: point"),
    ([{"number": 1, "lifts": [[5, 5, 5]]}], r"floors\[0\] lifts\[0\]: a point is"),
    ({"number": 1}, "floors must be an array of tables"),
])
def test_bad_floors_are_refused_naming_the_entry(floors: Any, message: str) -> None:
    with pytest.raises(SiteError, match=message):
        parse_site(site(floors=floors))


def test_the_demo_site_has_a_drawn_plan_for_each_floor() -> None:
    demo = load_site(load_config(env={}).site.file)
    assert [f.number for f in demo.floors] == sorted({z.floor for z in demo.zones}) == [1, 2]
    assert all(f.name and f.name_zh and len(f.outline) >= 3 and f.corridors and f.lifts for f in demo.floors)
    assert all(len(z.polygon) >= 3 for z in demo.zones)


SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 124">
  <g id="layer1">
    <rect id="outline" x="0" y="0" width="200" height="124"/>
    <polygon id="a" points="0,0 100,0 100,62 0,62"/>
    <rect id="b" x="100" y="0" width="100" height="62"/>
    <rect class="corridor" x="0" y="62" width="200" height="20"/>
    <circle class="lift" cx="50" cy="72" r="3"/>
    <text id="label">ignored</text>
  </g>
</svg>"""


def svg_site(tmp_path: Path, svg: str = SVG, zones: str = "", floor: str = "") -> Path:
    (tmp_path / "floor1.svg").write_text(svg, encoding="utf-8")
    site_file = tmp_path / "site.toml"
    site_file.write_text(f"""
[site]
id = "x"
name = "X"
timezone = "Asia/Shanghai"

[[zones]]
id = "a"
name = "A"
kind = "clinic"
capacity = 10
{zones}

[[zones]]
id = "b"
name = "B"
kind = "clinic"
capacity = 10

[[zones]]
id = "c"
name = "C"
kind = "clinic"
capacity = 10
floor = 2

[[floors]]
number = 1
svg = "floor1.svg"
{floor}
""", encoding="utf-8")
    return site_file


def test_a_floor_drawn_in_svg_gives_zone_polygons_outline_corridors_and_lifts(tmp_path: Path) -> None:
    s = load_site(svg_site(tmp_path))
    assert s.zone("a").polygon == ((0, 0), (50, 0), (50, 50), (0, 50))  # viewBox 200 x 124 -> 0..100 both ways
    assert s.zone("b").polygon == ((50, 0), (100, 0), (100, 50), (50, 50))
    assert s.zone("c").polygon == ()  # on floor 2: its rectangle
    (floor,) = s.floors
    assert floor.outline == ((0, 0), (100, 0), (100, 100), (0, 100))
    assert floor.corridors == (((0, 50), (100, 50), (100, 66.129), (0, 66.129)),)
    assert floor.lifts == ((25, 58.065),)


@pytest.mark.parametrize(("svg", "zones", "floor", "message"), [
    ("<svg viewBox='0 0 10 10'><rect id='a' x='0' y='0' width='5' height='5' transform='rotate(4)'/></svg>", "", "",
     r"floors\[0\] svg: floor1.svg: <rect id='a'> has a transform"),
    ("<svg viewBox='0 0 10 10'><polygon id='c' points='0,0 5,0 5,5'/></svg>", "", "",
     "zone c is drawn on floor 1 but is not on it"),
    (SVG, "polygon = [[0, 0], [10, 0], [10, 10]]", "", "zone a: polygon is both in the site file and in its floor's svg"),
    (SVG, "", "outline = [[0, 0], [10, 0], [10, 10]]", "outline is both in the site file and in floor1.svg"),
    ("<svg viewBox='0 0 10'></svg>", "", "", "viewBox must be 'min-x min-y width height'"),
    ("<svg viewBox='0 0 10 10'><polygon id='a' points='0,0 20,0 20,5'/></svg>", "", "",
     r"svg zone a: point \[200, 0\] is outside the floor's 0..100 units"),
    ("<svg viewBox='0 0 10 10'><polygon id='a' points='0,0 5'/></svg>", "", "", "points must be x,y pairs"),
    ("<svg><unclosed></svg>", "", "", "is not well-formed XML"),
    ("<html/>", "", "", "the root element is <html>, not <svg>"),
])
def test_bad_floor_svgs_are_refused_naming_the_floor(tmp_path: Path, svg: str, zones: str, floor: str,
                                                     message: str) -> None:
    with pytest.raises(SiteError, match=message):
        load_site(svg_site(tmp_path, svg, zones, floor))


def test_a_missing_floor_svg_is_named(tmp_path: Path) -> None:
    site_file = svg_site(tmp_path)
    (tmp_path / "floor1.svg").unlink()
    with pytest.raises(SiteError, match=r"floors\[0\] svg: no such file .*floor1.svg"):
        load_site(site_file)
    with pytest.raises(SiteError, match="needs a site file to be relative to"):
        parse_site(site(floors=[{"number": 1, "svg": "floor1.svg"}]))


@pytest.mark.parametrize(("entered_via", "message"), [
    ("nowhere", "zone a: entered_via 'nowhere' is not another zone of the site"),
    ("a", "zone a: entered_via 'a' is not another zone of the site"),
])
def test_entered_via_must_name_another_zone(entered_via: str, message: str) -> None:
    with pytest.raises(SiteError, match=message):
        parse_site(site({"entered_via": entered_via}))


def test_the_demo_sites_outpatient_zones_are_entered_through_the_hall() -> None:
    """The edge counts a walk from the hall for a phone first heard in these zones (edge.processors.flows);
    the emergency department is reached from outside, and the hall is the way in itself."""
    s = load_site(load_config(env={}).site.file)
    via = {z.id: z.entered_via for z in s.zones}
    assert via["entrance"] == "" and via["emergency"] == ""
    assert {z for z, v in via.items() if v} == {z.id for z in s.zones if z.kind not in ("entrance", "emergency")}
    assert set(via.values()) == {"", "entrance"}
