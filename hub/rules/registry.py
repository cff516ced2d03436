"""The hub's rule families, registered once. A new rule is one module under hub/rules/ that declares its
``FAMILY`` (hub.rules.base.RuleFamily), plus one entry here (docs/hub.md "Adding a rule").

The order is the order of the [rules] tables in ``GET /api/rules`` and in the admin console."""

from __future__ import annotations

from hub.rules import (agents, broker, charger, crowding, display, forecast, ingest, kiosk, offline, reliability,
                       satisfaction, screens, service_level, supervisor, systems, waits, wandering, wheelchairs)
from hub.rules.base import RuleFamily

FAMILIES: tuple[RuleFamily, ...] = (
    kiosk.FAMILY,
    offline.FAMILY,
    agents.FAMILY,
    ingest.FAMILY,
    broker.FAMILY,
    supervisor.FAMILY,
    display.FAMILY,
    charger.FAMILY,
    crowding.FAMILY,
    waits.FAMILY,
    service_level.FAMILY,
    wheelchairs.FAMILY,
    forecast.FAMILY,
    systems.FAMILY,
    reliability.FAMILY,
    screens.FAMILY,
    satisfaction.FAMILY,
    wandering.FAMILY,
)
