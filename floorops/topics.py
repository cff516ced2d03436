"""Topics between FloorOps' own components (edge -> hub, hub -> edge), on the same broker as devices.

Devices publish under ``hospital/...`` (floorops.contract). FloorOps' components talk under
``floorops/<site>/...``; no device may read or write there (see the broker ACL in floorops.dynsec).

| topic | from -> to | payload |
|---|---|---|
| ``floorops/<site>/edge/<kind>/<device_id>/<channel>`` | edge -> hub | :class:`EdgeRecord` JSON, QoS 1 |
| ``floorops/<site>/zone/<zone>/occupancy`` | edge -> hub | ``{"v","ts","zone","occupancy","devices","window_s"}`` QoS 1 |
| ``floorops/<site>/agent/<agent_id>/status`` | edge -> hub | retained ``{"v","ts","state"}``, Last Will offline |
| ``floorops/<site>/registry/<device_id>`` | hub CLI -> edge, hub | retained ``{"id","kind","zone"}``; empty deletes |
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

ROOT = "floorops"


def edge_record_topic(site: str, kind: str, device_id: str, channel: str) -> str:
    return f"{ROOT}/{site}/edge/{kind}/{device_id}/{channel}"


def zone_occupancy_topic(site: str, zone: str) -> str:
    return f"{ROOT}/{site}/zone/{zone}/occupancy"


def agent_status_topic(site: str, agent_id: str) -> str:
    return f"{ROOT}/{site}/agent/{agent_id}/status"


def registry_topic(site: str, device_id: str) -> str:
    return f"{ROOT}/{site}/registry/{device_id}"


def site_filter(site: str) -> str:
    return f"{ROOT}/{site}/#"


@dataclass(slots=True)
class EdgeRecord:
    """One validated, normalised device message as the edge hands it to the hub.

    ``ts`` is the device's time (epoch ms), corrected when its clock was out of bounds (then
    ``flags`` holds ``"clock_corrected"``). ``data`` holds the contract's fields for the kind and
    channel, with no raw MAC ever (probe sightings are summarised as zone occupancy instead).
    """

    device_id: str
    kind: str
    channel: str
    ts: int
    seq: int | None
    data: dict[str, Any]
    zone: str = ""
    site: str = ""
    flags: list[str] = field(default_factory=list)
    v: int = 1

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> "EdgeRecord":
        d = json.loads(payload)
        return cls(**{k: d[k] for k in cls.__slots__ if k in d})  # type: ignore[attr-defined]
