"""InfluxDB retention policies from ``influx.retention`` and ``influx.sighting_retention`` (docs/privacy.md).

Why: hospitals are told how long FloorOps keeps data, so the database must actually delete it. The
database's default retention policy gets ``influx.retention`` (never shorter than the history the
forecasting models train on, ``models.history_days``); raw per-device hashed sightings (``wifi_sighting``),
which nothing reads back, can go much sooner into their own policy ``floorops_sightings``. InfluxDB 1.x
only: 2.x's v1 API maps database/policy to buckets (DBRP) and refuses these statements; set both empty and
give the bucket its retention in InfluxDB itself.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from floorops.config import Config, ConfigError
from floorops.influx import InfluxClient
from floorops.measurements import WIFI_SIGHTING

log = logging.getLogger(__name__)

SIGHTING_RP = "floorops_sightings"
SIGHTING_MEASUREMENT = WIFI_SIGHTING
_DURATION = re.compile(r"^([1-9][0-9]{0,5})([hdw])$")
_UNIT_S = {"h": 3600, "d": 86_400, "w": 7 * 86_400}


def parse_duration(value: str, where: str) -> int:
    """An InfluxQL duration of one unit (``12h``, ``182d``, ``26w``) in seconds; at least 1 hour."""
    m = _DURATION.match(value.strip().lower())
    if not m:
        raise ConfigError(f"{where}: expected a duration such as 182d, 26w or 48h, got {value!r}")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


def shard_duration(seconds: int) -> str:
    """InfluxDB deletes whole shards: short shards so points go close to the policy's duration."""
    if seconds < 2 * 86_400:
        return "1h"
    return "1d" if seconds <= 366 * 86_400 else "7d"


@dataclass(frozen=True)
class RetentionPlan:
    database: str
    default_s: int | None  # None: leave the database's default policy alone
    sighting_s: int | None  # None: sightings live in the default policy

    @property
    def sighting_rp(self) -> str | None:
        return SIGHTING_RP if self.sighting_s else None

    def statements(self, existing: dict[str, bool]) -> list[str]:
        """InfluxQL making the server match the plan, given its policies ``{name: is_default}``."""
        db = self.database.replace('"', '\\"')
        out: list[str] = []
        if self.default_s:
            default = next((name for name, is_default in existing.items() if is_default), "autogen")
            verb = "ALTER" if default in existing else "CREATE"
            out.append(f'{verb} RETENTION POLICY "{default}" ON "{db}" DURATION {self.default_s}s '
                       f"{'REPLICATION 1 ' if verb == 'CREATE' else ''}"
                       f"SHARD DURATION {shard_duration(self.default_s)} DEFAULT")
        if self.sighting_s:
            verb = "ALTER" if SIGHTING_RP in existing else "CREATE"
            out.append(f'{verb} RETENTION POLICY "{SIGHTING_RP}" ON "{db}" DURATION {self.sighting_s}s '
                       f"{'REPLICATION 1 ' if verb == 'CREATE' else ''}"
                       f"SHARD DURATION {shard_duration(self.sighting_s)}")
        return out


def plan(cfg: Config) -> RetentionPlan:
    """The configured policies, or a clear error when they would delete what the models still need."""
    default_s = parse_duration(cfg.influx.retention, "influx.retention") if cfg.influx.retention else None
    need_s = cfg.models.history_days * 86_400
    if default_s is not None and default_s < need_s:
        raise ConfigError(f"influx.retention = {cfg.influx.retention!r} is shorter than models.history_days = "
                          f"{cfg.models.history_days} (the forecasting models train on that much history): "
                          f"use at least {cfg.models.history_days}d, or lower models.history_days")
    sighting_s = (parse_duration(cfg.influx.sighting_retention, "influx.sighting_retention")
                  if cfg.influx.sighting_retention else None)
    if sighting_s and default_s and sighting_s > default_s:
        raise ConfigError("influx.sighting_retention is longer than influx.retention: sightings would outlive "
                          "the aggregates; make it shorter or leave it empty")
    return RetentionPlan(cfg.influx.database, default_s, sighting_s)


def existing_policies(series: list[dict[str, Any]]) -> dict[str, bool]:
    """``SHOW RETENTION POLICIES`` as ``{name: is_default}``."""
    out: dict[str, bool] = {}
    for s in series:
        cols = s.get("columns", [])
        for row in s.get("values", []) or []:
            r = dict(zip(cols, row))
            out[str(r.get("name"))] = bool(r.get("default"))
    return out


async def apply(client: InfluxClient, p: RetentionPlan) -> list[str]:
    """Create the database if need be and make its policies match ``p``; returns the statements run.
    Idempotent (every start runs it). Raises InfluxWriteError if the server refuses (e.g. InfluxDB 2.x)."""
    await client.query(f'CREATE DATABASE "{client.database}"')
    if not p.default_s and not p.sighting_s:
        return []
    existing = existing_policies(await client.query(f'SHOW RETENTION POLICIES ON "{client.database}"'))
    done = p.statements(existing)
    for q in done:
        await client.query(q)
    log.info("InfluxDB retention policies applied", extra={"database": client.database, "statements": done})
    return done
