"""Nothing lost and nothing duplicated across ``kill -9`` of the hub: records published while the hub
is killed and restarted are applied exactly once (persistent session + ack after commit + dedup)."""

from __future__ import annotations

import threading
import time

import pytest

from floorops.config import Config
from floorops.topics import EdgeRecord
from tests.hub.conftest import HubProcess, http, wait_for
from tests.hub.test_thin_path import edge_publisher, login, publish

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KIOSKS = [f"kiosk-{i:02d}" for i in range(1, 16)]


def test_kill_9_loses_nothing_and_duplicates_nothing(hub_process: HubProcess, live_cfg: Config) -> None:
    cfg = live_cfg
    from hub import provisioning
    provisioning.ensure_user(cfg, "mon", "monitor", "monitor-pass-1")
    hub_process.start()
    pub = edge_publisher(cfg)
    seq = 0
    now_ms = int(time.time() * 1000)

    def jam_and_clear(device: str) -> None:
        nonlocal seq
        for data in ({"event": "card_jam"}, {"event": "fault_cleared", "fault": "card_jam"}):
            seq += 1
            publish(pub, cfg, EdgeRecord(device, "kiosk", "event", now_ms + seq, seq, data, zone="reg_hall", site=cfg.site.id))

    try:
        # A steady stream (one record every 15 ms) with the hub killed in the middle of it, so that some
        # records are in flight: received but not committed, or committed but not acknowledged.
        streamer = threading.Thread(target=lambda: [jam_and_clear(d) or time.sleep(0.03) for d in KIOSKS])
        streamer.start()
        time.sleep(0.15)
        hub_process.kill()  # kill -9
        streamer.join()
        # Replays of already-applied records (an edge re-sending its buffer) must change nothing.
        for i in range(1, 11):
            publish(pub, cfg, EdgeRecord(KIOSKS[(i - 1) // 2], "kiosk", "event", now_ms + i, i,
                                         {"event": "card_jam"} if i % 2 else {"event": "fault_cleared", "fault": "card_jam"},
                                         zone="reg_hall", site=cfg.site.id))
        hub_process.start()
    finally:
        pub.loop_stop()
        pub.disconnect()
    token = login(hub_process.url, "mon", "monitor-pass-1")

    def all_cleared() -> list | None:
        status, alarms = http(hub_process.url + "/api/alarms", token=token)
        return alarms if status == 200 and len(alarms) >= 15 and all(a["state"] == "cleared" for a in alarms) else None

    alarms = wait_for(all_cleared, 20, "15 cleared alarms")
    assert sorted(a["source"] for a in alarms) == KIOSKS  # one per kiosk: none lost, none twice
    assert all(a["count"] == 1 for a in alarms)
    status, tickets = http(hub_process.url + "/api/tickets", token=token)
    assert len(tickets) == 15 and all(t["state"] == "resolved" for t in tickets)
