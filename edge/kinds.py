"""What the edge does with each kind of device beyond the contract, registered here once.

The kinds themselves are declared in floorops/kinds/; this is only the edge's part: which kinds' messages
carry phone sightings (hashed at validation, fed to the occupancy windows; the hub hears a count) and which
feed the zone's queue features. A kind not registered here (a site's plugin kind) gets :data:`PLAIN`: its
messages are stored and forwarded to the hub as they came. The pipeline picks its handler per kind from
this once, at start, so the hot path does one dict lookup instead of comparing kind names.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Iterable, Mapping

from floorops.kinds import queue_screen, wifi_probe
from floorops.site import Device


@dataclass(frozen=True)
class EdgeKind:
    """The edge's handling of one kind."""

    # The channel whose payload is a list of phone sightings: the raw MACs are hashed at validation and go
    # no further, the sightings feed the zone's occupancy window, and the zone counts as a probe zone.
    sightings_channel: str | None = None
    # Telemetry (waiting, counters open) and ticket events feed the zone's queue features.
    queue_readings: bool = False


PLAIN: Final = EdgeKind()
EDGE_KINDS: Final[Mapping[str, EdgeKind]] = MappingProxyType({
    wifi_probe.KIND.name: EdgeKind(sightings_channel="telemetry"),
    queue_screen.KIND.name: EdgeKind(queue_readings=True),
})


def edge_kind(name: str) -> EdgeKind:
    """The edge's handling of kind ``name`` (:data:`PLAIN` for a kind without special handling)."""
    return EDGE_KINDS.get(name, PLAIN)


def probe_zones(devices: Iterable[Device]) -> set[str]:
    """The zones whose occupancy the edge estimates: those with a device that reports sightings."""
    return {d.zone for d in devices if edge_kind(d.kind).sightings_channel}


def queue_zones(devices: Iterable[Device]) -> set[str]:
    """The zones with a device that reports queue readings."""
    return {d.zone for d in devices if edge_kind(d.kind).queue_readings}
