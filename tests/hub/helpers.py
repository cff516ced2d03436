"""Building a hub in-process on a ManualClock and feeding it the edge's records by hand."""

from __future__ import annotations

import json
from typing import Any

from floorops.config import Config
from floorops.site import Site, load_site
from floorops.topics import EdgeRecord, edge_record_topic, zone_occupancy_topic
from hub.clock import ManualClock
from hub.core import Hub
from hub.db import Database
from hub.roster import load_roster


def make_hub(cfg: Config, clock: ManualClock, site: Site | None = None) -> Hub:
    db = Database(cfg.path(cfg.hub.db_path))
    return Hub(cfg, site or load_site(cfg.site.file), db, clock, load_roster(cfg.hub.roster_file))


class Feeder:
    """Sends records to a hub with increasing seq and device time following the clock."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.seq: dict[str, int] = {}

    def record(self, device_id: str, channel: str, data: dict[str, Any], seq: int | None = None) -> EdgeRecord:
        dev = self.hub.site.device(device_id) if device_id in {d.id for d in self.hub.site.devices} else None
        kind = dev.kind if dev else "kiosk"
        zone = dev.zone if dev else "reg_hall"
        if seq is None:
            seq = self.seq[device_id] = self.seq.get(device_id, 0) + 1
        rec = EdgeRecord(device_id, kind, channel, int(self.hub.clock.now() * 1000), seq, data, zone=zone,
                         site=self.hub.site.id)
        self.hub.apply_messages([(edge_record_topic(self.hub.site.id, kind, device_id, channel), rec.to_json())])
        return rec

    def occupancy(self, zone: str, value: float) -> None:
        payload = json.dumps({"v": 1, "ts": int(self.hub.clock.now() * 1000), "zone": zone, "occupancy": value,
                              "devices": 3, "window_s": 300}).encode()
        self.hub.apply_messages([(zone_occupancy_topic(self.hub.site.id, zone), payload)])


def kiosk_ok(**overrides: Any) -> dict[str, Any]:
    data = {"cpu_pct": 20.0, "mem_pct": 40.0, "paper_pct": 80, "card_reader": "ok", "printer": "ok", "app": "ok",
            "resp_ms": 600, "txn_ok": 3, "txn_fail": 0}
    data.update(overrides)
    return data


def queue_reading(queue: str, waiting: int, avg_wait_s: float) -> dict[str, Any]:
    return {"queue": queue, "waiting": waiting, "serving": "A001", "counters_open": 2, "avg_wait_s": avg_wait_s}


def open_alarms(hub: Hub, type_: str | None = None) -> list[dict[str, Any]]:
    return [a for a in hub.alarms.list() if a["state"] != "cleared" and (type_ is None or a["type"] == type_)]
