"""The kinds of device FloorOps knows, declared once.

Every list of kinds derives from :data:`KINDS`: the site file's validation (floorops.site), the MQTT kinds
of the device contract (floorops.contract) and the edge's subscriptions, the rules' per-kind settings
(hub.rules.config), the admin API's schema, and the console (``device_kinds`` of ``GET /api/site``; its
words for each kind are the console's, console/static/i18n). What a kind's messages contain is the
contract's (floorops.contract) and how they are stored is floorops.measurements'; this module says which
kinds exist and how each may connect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class DeviceKind:
    name: str
    transports: tuple[str, ...]  # how a device of the kind may connect (floorops.site TRANSPORTS)
    history_measurement: str  # the InfluxDB measurement of the device's history (GET /api/devices/{id}/history)


KINDS: Final = (
    DeviceKind("queue_screen", ("mqtt",), "queue_screen"),
    DeviceKind("kiosk", ("mqtt",), "kiosk"),
    DeviceKind("wifi_probe", ("mqtt", "serial"), "device_status"),
    DeviceKind("charger", ("modbus",), "charger_station"),
)
BY_NAME: Final = {k.name: k for k in KINDS}
DEVICE_KINDS: Final = tuple(k.name for k in KINDS)
MQTT_KINDS: Final = tuple(k.name for k in KINDS if "mqtt" in k.transports)


def kind(name: str) -> DeviceKind:
    """The kind called ``name``; KeyError if FloorOps has none of that name."""
    return BY_NAME[name]
