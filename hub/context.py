"""What the HTTP handlers reach: the hub core, users, InfluxDB, the broker link and the forecaster."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from floorops.config import Config
from floorops.influx import InfluxClient
from hub.auth import UserStore
from hub.core import Hub
from hub.forecasting import Forecaster


@dataclass
class HubContext:
    cfg: Config
    hub: Hub
    users: UserStore
    influx: InfluxClient
    forecaster: Forecaster
    ingest: Any = None  # hub.ingest.MqttIngest when connected to a broker
    webhooks: Any = None
    systems: Any = None  # hub.systems.SystemWatcher when [[systems.checks]] are configured
    extra: dict[str, Any] = field(default_factory=dict)


CONTEXT: web.AppKey[HubContext] = web.AppKey("floorops_hub", HubContext)


def ctx(request: web.Request) -> HubContext:
    return request.app[CONTEXT]
