"""Each InfluxDB measurement's name is spelled once: in floorops/measurements.py or in its kind's declaration
(floorops/kinds/); writers and readers elsewhere use those names (issue #14, item 2).

Why: a measurement renamed in one writer and not in a reader is data that silently stops being read.
"""

from __future__ import annotations

import re
from pathlib import Path

from floorops import measurements

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("floorops", "edge", "hub", "models", "firmware_sim", "console", "centre", "bench")


def measurement_names() -> set[str]:
    """Every measurement: the names in floorops/measurements.py and those the kinds write."""
    names = {v for k, v in vars(measurements).items() if k.isupper() and isinstance(v, str) and k != "EVENT_FIELDS"}
    for path in (ROOT / "floorops" / "kinds").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r'\bline\(\s*"([a-z_]+)"', text))
        names |= set(re.findall(r'^MEASUREMENT: Final = "([a-z_]+)"', text, re.M))
    return names


def literal_uses(text: str, names: set[str]) -> list[int]:
    """Lines naming a measurement in a string: written (``line("x", ...)``) or read (``FROM "x"``, ``FROM x``)."""
    alt = "|".join(sorted(names))
    pattern = re.compile(rf'''\bline\(\s*["'](?:{alt})["']|\bFROM\s+\\?["']?(?:{alt})\b''')
    return [n for n, line in enumerate(text.splitlines(), 1) if pattern.search(line)]


def test_the_names_are_found() -> None:
    names = measurement_names()
    assert {"device_status", "device_event", "zone_occupancy", "zone_stats", "forecast", "wifi_sighting",
            "queue_screen", "kiosk", "charger_station", "charger_slot", "wheelchair_hour"} <= names


def test_no_measurement_name_is_written_as_a_literal_outside_its_home() -> None:
    names = measurement_names()
    found = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "floorops/measurements.py" or rel.startswith("floorops/kinds/"):
                continue
            found += [f"{rel}:{n}" for n in literal_uses(path.read_text(encoding="utf-8"), names)]
    assert not found, "use floorops.measurements' names:\n" + "\n".join(found)


def test_the_check_sees_writers_and_readers() -> None:
    names = {"zone_stats"}
    assert literal_uses('x = line("zone_stats", tags, f, t)\n', names) == [1]
    assert literal_uses("q = 'SELECT * FROM \"zone_stats\" WHERE'\n", names) == [1]
    assert literal_uses("q = 'SELECT * FROM zone_stats'\n", names) == [1]
    assert not literal_uses('q = f\'SELECT * FROM "{ZONE_STATS}"\'\n', names)
    assert not literal_uses("q = 'SELECT * FROM zone_buckets'\n", names)
