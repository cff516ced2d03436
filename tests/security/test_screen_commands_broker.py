"""Commands to queue screens on the real broker (issue #16 item 5): a screen's command topic is its own.

Real Mosquitto with the dynsec plugin, accounts made by FloorOps' own code (floorops.dynsec): the hub's
account sends commands; screen A reads its own; another screen, a kiosk and the edge, each with its real
account and client id, can neither subscribe to nor receive A's commands, and a screen cannot send one.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from floorops.config import Config
from floorops.topics import command_filter, command_topic
from floorops.dynsec import DynsecClient, edge_client_id, hub_client_id
from centre.services import MosquittoServer
from tests.security.test_broker_identity import Peer, _account, site_cfg  # noqa: F401 - site_cfg is a fixture

pytestmark = pytest.mark.integration

REFUSED = 128  # SUBACK reason code: not authorised / unspecified failure


def _code(granted: Any) -> int:
    return int(getattr(granted, "value", granted))


def _screen(dynsec: DynsecClient, cfg: Config, name: str) -> tuple[str, Any]:
    device_id = f"{cfg.site.id}-{name}"
    return device_id, dynsec.provision_device(cfg.site.id, "queue_screen", device_id)


def _wait(check: Any, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def test_only_the_screen_reads_its_commands_and_only_the_hub_sends_them(
        broker: MosquittoServer, dynsec: DynsecClient, site_cfg: Config) -> None:  # noqa: F811 - fixture
    cfg = site_cfg
    site = cfg.site.id
    a_id, a_creds = _screen(dynsec, cfg, "qs-a")
    b_id, b_creds = _screen(dynsec, cfg, "qs-b")
    kiosk_id = f"{site}-kiosk"
    kiosk_creds = dynsec.provision_device(site, "kiosk", kiosk_id)
    topic_a = command_topic(site, "queue_screen", a_id)

    screen_a = Peer(broker.port, a_creds.username, a_creds.password, a_id)
    screen_b = Peer(broker.port, b_creds.username, b_creds.password, b_id)
    kiosk = Peer(broker.port, kiosk_creds.username, kiosk_creds.password, kiosk_id)
    edge_acc = _account(cfg, cfg.edge.mqtt_username)
    edge = Peer(broker.port, edge_acc.username, edge_acc.password, edge_client_id(cfg.edge.agent_id))
    hub_acc = _account(cfg, cfg.hub.mqtt_username)
    hub = Peer(broker.port, hub_acc.username, hub_acc.password, hub_client_id(cfg.hub.mqtt_username, site, "priority"))
    peers = [screen_a, screen_b, kiosk, edge, hub]
    try:
        assert all(p.connected.is_set() for p in peers)
        assert _code(screen_a.subscribe(topic_a)[0]) < REFUSED  # its own: granted
        # Another screen and a kiosk may not subscribe to A's commands, nor to every screen's.
        for peer in (screen_b, kiosk):
            for f in (topic_a, command_filter(site), f"hospital/{site}/#"):
                assert _code(peer.subscribe(f)[0]) >= REFUSED, f
        # The edge subscribes to the whole device tree (it must), but is never sent a command.
        assert _code(edge.subscribe(f"hospital/{site}/#")[0]) < REFUSED

        hub.publish(topic_a, b'{"v":1,"id":"c1","ts":1,"type":"notice","text":"daily update","text_zh":"x"}') \
            .wait_for_publish(5)
        assert _wait(lambda: any(m.topic == topic_a for m in screen_a.messages)), "screen A got no command"
        # Screens (its own topic or another's) and the kiosk cannot send commands: the broker drops them.
        screen_a.publish(topic_a, b'{"forged":"self"}').wait_for_publish(5)
        screen_b.publish(topic_a, b'{"forged":"b"}').wait_for_publish(5)
        kiosk.publish(topic_a, b'{"forged":"kiosk"}').wait_for_publish(5)
        hub.publish(topic_a, b'{"v":1,"id":"c2","ts":2,"type":"notice","text":"second","text_zh":"y"}') \
            .wait_for_publish(5)
        assert _wait(lambda: sum(m.topic == topic_a for m in screen_a.messages) >= 2)
        time.sleep(0.5)  # anything forged would have arrived by now, in order before the hub's second command
        got = [m.payload for m in screen_a.messages if m.topic == topic_a]
        assert len(got) == 2 and all(b"forged" not in p for p in got), got
        assert not any(m.topic == topic_a for p in (screen_b, kiosk, edge) for m in p.messages)
    finally:
        for p in peers:
            p.close()
        for device_id in (a_id, b_id, kiosk_id):
            dynsec.delete_client(device_id)
