"""The webhook outbox: deliveries survive kill -9 of the hub, retries carry one idempotency key, a rolled-back
change sends nothing, a hung receiver costs a fixed number of tasks and the bound drops (and counts) the
least important deliveries, never a critical alarm.raised."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from pathlib import Path

import pytest
from aiohttp import web

from floorops.config import Config
from floorops.topics import EdgeRecord
from hub.clock import ManualClock
from tests.hub.conftest import HubProcess, http, wait_for
from tests.hub.live import LiveHub
from tests.hub.helpers import Feeder
from tests.hub.webhook_receiver import Receiver, Request


def webhooks_metric(url: str, result: str) -> float:
    status, body = http(url + "/metrics")
    assert status == 200
    m = re.search(rf'^floorops_hub_webhooks_total{{result="{result}"}} (\S+)$', body.decode(), re.M)
    return float(m.group(1)) if m else -1.0


def alarm_raised(requests: list[Request]) -> list[Request]:
    return [r for r in requests if r.json["type"] == "alarm.raised"]


def test_retries_carry_one_key_and_a_rolled_back_change_sends_nothing(offline_cfg: Config,
                                                                        clock: ManualClock) -> None:
    seen: dict[int, int] = {}

    async def fail_twice(receiver: Receiver, request: Request) -> web.StreamResponse:
        n = seen[request.json["id"]] = seen.get(request.json["id"], 0) + 1
        return web.Response(status=503 if n <= 2 else 204)

    receiver = Receiver(fail_twice).start()
    offline_cfg.hub.webhooks = [receiver.url()]
    offline_cfg.hub.webhook_backoff_s = 0.05
    live = LiveHub(offline_cfg, clock).start()
    hub = live.ctx.hub
    try:
        def rolled_back() -> None:
            try:
                with hub.unit_of_work():
                    hub.bus.emit("alarm.raised", {"id": 999, "type": "card_jam", "severity": "critical"})
                    raise RuntimeError("the change fails after its event was emitted")
            except RuntimeError:
                pass

        live.call(rolled_back)
        live.call(lambda: Feeder(hub).record("kiosk-01", "event", {"event": "card_jam"}))
        raised = receiver.wait_for(lambda got: len(alarm_raised(got)) >= 3 and alarm_raised(got), 20,
                                   "alarm.raised delivered after two 503s")
        keys = {r.headers.get("webhook-id") for r in raised}
        assert len(raised) == 3 and len(keys) == 1 and None not in keys, keys  # one key on every retry
        assert len({r.body for r in raised}) == 1
        assert raised[0].json["data"]["type"] == "card_jam" and raised[0].json["data"]["id"] != 999
        assert wait_for(lambda: webhooks_metric(live.url, "delivered") >= 1, 10, "delivered counted")
        assert webhooks_metric(live.url, "retries") >= 2
        time.sleep(0.3)  # the rolled-back alarm never shows up, not even late
        assert all(r.json["data"].get("id") != 999 for r in receiver.got())
    finally:
        live.stop()
        receiver.stop()


def test_a_hung_receiver_keeps_the_task_count_bounded_and_drops_beyond_the_bound(offline_cfg: Config,
                                                                                   clock: ManualClock) -> None:
    async def hang(receiver: Receiver, request: Request) -> web.StreamResponse:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    receiver = Receiver(hang).start()
    offline_cfg.hub.webhooks = [receiver.url()]
    offline_cfg.hub.webhook_timeout_s = 120.0  # hung for the whole test
    offline_cfg.hub.webhook_workers = 4
    offline_cfg.hub.webhook_queue_max = 10_000
    live = LiveHub(offline_cfg, clock).start()
    hub = live.ctx.hub
    try:
        baseline = live.call(lambda: len(asyncio.all_tasks()))

        def burst(start: int) -> None:
            with hub.unit_of_work():
                for i in range(start, start + 1000):
                    critical = i % 30 == 0  # 500 critical alarms among the 15,000 events
                    hub.bus.emit("alarm.raised" if critical else "alarm.updated",
                                 {"id": i, "type": "card_jam", "severity": "critical" if critical else "minor"})

        peak = 0
        for start in range(0, 15_000, 1000):
            live.call(burst, start)
            peak = max(peak, live.call(lambda: len(asyncio.all_tasks())))
        receiver.wait_for(lambda got: len(got) >= 4, 20, "the four workers' hung requests")
        time.sleep(0.5)
        peak = max(peak, live.call(lambda: len(asyncio.all_tasks())))
        assert peak <= baseline + 8, (baseline, peak)  # not one task per event
        assert wait_for(lambda: webhooks_metric(live.url, "dropped") == 5000, 20, "5,000 drops counted")
        db = sqlite3.connect(Path(offline_cfg.var_dir) / offline_cfg.hub.db_path)
        pending = db.execute("SELECT COUNT(*) FROM webhook_outbox WHERE state='pending'").fetchone()[0]
        critical = db.execute("SELECT COUNT(*) FROM webhook_outbox WHERE type='alarm.raised'").fetchone()[0]
        db.close()
        assert pending == 10_000 and critical == 500  # the bound holds; no critical alarm.raised dropped
    finally:
        live.stop()
        receiver.stop()


@pytest.mark.integration
def test_kill_9_after_an_alarm_is_raised_loses_no_webhook(live_cfg: Config) -> None:
    from tests.hub.test_thin_path import edge_publisher, login, publish
    from hub import provisioning

    cfg = live_cfg
    port = Receiver().port  # the receiver is down while the alarm is raised: nothing can be delivered
    cfg.hub.webhooks = [f"http://127.0.0.1:{port}/hook"]
    provisioning.ensure_user(cfg, "mon", "monitor", "monitor-pass-1")
    proc = HubProcess(cfg).start()
    receiver = Receiver(port=port)
    pub = edge_publisher(cfg)
    try:
        token = login(proc.url, "mon", "monitor-pass-1")
        publish(pub, cfg, EdgeRecord("kiosk-03", "kiosk", "event", int(time.time() * 1000), 1, {"event": "card_jam"},
                                     zone="reg_hall", site=cfg.site.id))
        alarm = wait_for(lambda: (http(proc.url + "/api/alarms", token=token)[1] or [None])[0], 20, "the alarm")
        proc.kill()  # kill -9, right after the commit, before any delivery could succeed
        receiver.start()
        proc.start()
        raised = receiver.wait_for(alarm_raised, 30, "alarm.raised after the restart")
        time.sleep(1.0)  # a second copy, if any, would come now
        raised = alarm_raised(receiver.got())
        assert {r.json["data"]["id"] for r in raised} == {alarm["id"]}
        assert len({r.headers["webhook-id"] for r in raised}) == 1  # exactly once per idempotency key
    finally:
        pub.loop_stop()
        pub.disconnect()
        proc.stop()
        receiver.stop()
