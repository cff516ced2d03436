"""One namespace per test on the session's shared broker: a site of the test's own.

Every topic FloorOps uses is under its site id (``hospital/<site>/...`` for devices, ``floorops/<site>/...``
for the edge's records, agent statuses, the registry and the supervisor's notices; floorops/topics.py), and
so are the hub's and supervisor's broker client ids (``<account>-<site>-*``, floorops/dynsec.py). A test on a
fresh site id therefore neither receives the retained messages other tests left on the shared broker nor the
records queued for another test's persistent hub session: it can assert on the whole result (exactly one
alarm), not only on its own device's share of it. docs/testing.md describes the layout.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

from floorops.config import Config

# The site file's own id line, under [site] (floorops/sites/demo.toml).
_ID_LINE = re.compile(r'(?m)^id = "[^"]*"$')


def new_site_id() -> str:
    """A site id no other test of this or an earlier session on the same broker uses."""
    return f"t{secrets.token_hex(4)}"


def own_site(cfg: Config, tmp: Path, site_id: str | None = None) -> str:
    """Put ``cfg`` on a site of its own: the configured site file under ``site_id`` (a fresh one when None),
    written to ``tmp``, and the occupancy calibration copied for that site (the edge refuses one fitted for
    another site). Returns the site id."""
    site_id = site_id or new_site_id()
    text = Path(cfg.site.file).read_text(encoding="utf-8")
    own, n = _ID_LINE.subn(f'id = "{site_id}"', text, count=1)
    assert n == 1, f"no site id line in {cfg.site.file}"
    path = tmp / f"site-{site_id}.toml"
    path.write_text(own, encoding="utf-8")
    cfg.site.file = str(path)
    cfg.site.id = site_id
    calibration = Path(cfg.edge.occupancy_calibration)
    if not calibration.is_absolute():
        calibration = Path(cfg.var_dir) / calibration
    if calibration.is_file():
        raw = json.loads(calibration.read_text(encoding="utf-8"))
        raw["site"] = site_id
        copy = tmp / f"occupancy-{site_id}.json"
        copy.write_text(json.dumps(raw), encoding="utf-8")
        cfg.edge.occupancy_calibration = str(copy)
    return site_id
