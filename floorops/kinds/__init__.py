"""The kinds of device FloorOps knows, each declared once in a module of its own (``KIND``).

Every list of kinds derives from a :class:`KindRegistry`: the site file's validation (floorops.site), the
MQTT kinds of the device contract and the edge's subscriptions, the InfluxDB mapping
(floorops.measurements), the rules' per-kind settings and rule sets (hub.rules.config, hub.core), the
admin API's schema, and the console (``device_kinds`` of ``GET /api/site``; its words for each kind are
the console's, console/static/i18n). :data:`BUILTIN` holds the five kinds of this package; a site adds its
own as plugin modules (``[site] kind_plugins`` in the config, :func:`from_plugins`), docs/device-kinds.md.
"""

from __future__ import annotations

from typing import Final, Iterable

from floorops.kinds import charger, kiosk, queue_screen, satisfaction_terminal, wifi_probe
from floorops.kinds.base import TRANSPORTS, DeviceKind, KindError, KindRegistry

__all__ = ["BUILTIN", "TRANSPORTS", "DeviceKind", "KindError", "KindRegistry", "from_plugins"]

BUILTIN: Final = KindRegistry((queue_screen.KIND, kiosk.KIND, wifi_probe.KIND, charger.KIND,
                                satisfaction_terminal.KIND))


def from_plugins(modules: Iterable[str]) -> KindRegistry:
    """The built-in kinds and those of the plugin modules named (``cfg.site.kind_plugins``)."""
    modules = list(modules)
    return BUILTIN.with_plugins(modules) if modules else BUILTIN
