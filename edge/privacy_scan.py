"""``python -m edge privacy-scan``: look for per-phone data at rest (docs/privacy.md, "Patient flow").

What it checks, with the edge's configuration:

- InfluxDB (the default retention policy and the sightings' one): no measurement has a field that names a
  phone (``mac``, ``mac_hash``, ``hash``...), and no string field holds a keyed hash (32 hex digits), so
  no phone's sightings can be linked into its path through the zones;
- the patient-flow aggregates: no ``zone_flow`` point followed fewer than ``edge.flows_k`` phones, no
  ``zone_wandering`` count is under k (0 excepted), no ``zone_detour`` but ``other`` is;
- the edge's files (buffer, dead letters, log files under the var folder; the key folder excepted): no
  ``mac_hash`` field waiting to be written.

Raw MACs are covered by the redaction tests (tests/edge/test_edge_privacy.py); this is the check a hospital
can run on its own installation. Exit status 1 when anything is found.
"""

from __future__ import annotations

import re
from pathlib import Path

from floorops.config import Config
from floorops.influx import InfluxWriteError, query_sync, rows
from floorops.measurements import ZONE_DETOUR, ZONE_FLOW, ZONE_WANDERING
from floorops.retention import SIGHTING_RP

IDENTIFYING_FIELDS = re.compile(r"(?i)^(mac|mac_?hash|hash|device_hash|phone)$")
HASH_VALUE = re.compile(r"^[0-9a-f]{32}$")
SAMPLE = 1000  # string values sampled per field


def scan(cfg: Config) -> list[str]:
    """Findings, each one line; empty when nothing per phone is at rest."""
    found: list[str] = []
    i = cfg.influx
    k = cfg.edge.flows_k

    def q(text: str) -> list[dict[str, object]]:
        return query_sync(i.url, i.database, text, username=i.username, password=i.password, timeout_s=i.timeout_s)

    try:
        policies = [""] + ([f'"{SIGHTING_RP}".'] if i.sighting_retention else [])
        for rp in policies:
            for series in q(f"SHOW FIELD KEYS FROM {rp}/.*/"):
                measurement = str(series.get("name"))
                for r in rows(series):
                    fieldname, ftype = str(r.get("fieldKey")), str(r.get("fieldType"))
                    where = f"InfluxDB {rp}{measurement}.{fieldname}"
                    if IDENTIFYING_FIELDS.match(fieldname):
                        found.append(f"{where}: a field naming a phone (a per-device track at rest)")
                    elif ftype == "string":
                        values = q(f'SELECT "{fieldname}" FROM {rp}"{measurement}" LIMIT {SAMPLE}')
                        if any(HASH_VALUE.match(str(v.get(fieldname, ""))) for s in values for v in rows(s)):
                            found.append(f"{where}: values shaped like a phone's keyed hash")
        for s in q(f'SELECT "tracked" FROM "{ZONE_FLOW}" WHERE "tracked" < {k}'):
            found.append(f"InfluxDB {ZONE_FLOW}: {len(rows(s))} point(s) followed fewer than k = {k} phones")
        for s in q(f'SELECT "visitors", "back_and_forth" FROM "{ZONE_WANDERING}" WHERE '
                   f'("visitors" > 0 AND "visitors" < {k}) OR ("back_and_forth" > 0 AND "back_and_forth" < {k})'):
            found.append(f"InfluxDB {ZONE_WANDERING}: {len(rows(s))} point(s) with a count under k = {k}")
        for s in q(f'SELECT "back_and_forth" FROM "{ZONE_DETOUR}" WHERE "via" != \'other\' AND "back_and_forth" < {k}'):
            found.append(f"InfluxDB {ZONE_DETOUR}: {len(rows(s))} point(s) with a count under k = {k}")
    except InfluxWriteError as exc:
        found.append(f"InfluxDB could not be scanned: {exc}")
    keys = cfg.path(cfg.edge.mac_key_dir)
    var = Path(cfg.var_dir)
    for f in sorted(var.rglob("*")) if var.is_dir() else []:
        if not f.is_file() or keys in f.parents or f.suffix == ".key" or f.stat().st_size > 2_000_000_000:
            continue
        if _contains(f, b"mac_hash="):
            found.append(f"{f}: a mac_hash field waiting to be written (edge buffer or log)")
    return found


def _contains(path: Path, needle: bytes) -> bool:
    """Whether ``needle`` is in the file, read in blocks (the buffer may be large)."""
    tail = b""
    try:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                if needle in tail + block:
                    return True
                tail = block[-len(needle):]
    except OSError:
        return False
    return False
