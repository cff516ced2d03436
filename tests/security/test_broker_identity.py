"""The broker as an attacker holding one device's credentials would try it (issue #12, broker rows).

Real Mosquitto 2.0.11 with the dynsec plugin, configured and provisioned by FloorOps' own code
(centre.services, floorops.dynsec.service_accounts); the edge and hub sessions are played by paho clients
with the edge's and the hub's real accounts and client ids, persistent sessions as the real ones use.
"""

from __future__ import annotations

import secrets
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from floorops.config import Config
from floorops.dynsec import HUB_SESSIONS, DynsecClient, hub_client_id, service_accounts
from centre.services import InfluxServer, MosquittoServer
from hub.provisioning import ensure_user
from tests.hub.conftest import HubProcess, http, make_cfg, provision_services, wait_for
from tests.sites import own_site

pytestmark = pytest.mark.integration


class Peer:
    """One MQTT connection; records its CONNACK, its messages and whether it is still connected."""

    def __init__(self, port: int, username: str, password: str, client_id: str, *, persistent: bool = False,
                 will: tuple[str, bytes] | None = None) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        if will:
            self.client.will_set(will[0], will[1], qos=1, retain=False)
        self.connack: Any = None
        self.session_present: bool | None = None
        self.messages: list[mqtt.MQTTMessage] = []
        self.connected = threading.Event()
        self.answered = threading.Event()
        self.subscribed = threading.Event()
        self.granted: list[Any] = []
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda c, u, f, rc, p=None: self.connected.clear()
        self.client.on_message = lambda c, u, m: self.messages.append(m)
        self.client.on_subscribe = self._on_subscribe
        props = Properties(PacketTypes.CONNECT)
        if persistent:
            props.SessionExpiryInterval = 3600
        self.client.connect_async("127.0.0.1", port, keepalive=30, clean_start=not persistent, properties=props)
        self.client.loop_start()
        assert self.answered.wait(10), f"no CONNACK for {client_id}"

    def _on_connect(self, c: mqtt.Client, u: Any, flags: Any, rc: Any, props: Any = None) -> None:
        if self.answered.is_set():
            return  # paho reconnecting by itself: the first answer is what the test looks at
        self.connack = rc
        self.session_present = getattr(flags, "session_present", None)
        if not rc.is_failure:
            self.connected.set()
        else:
            c.disconnect()  # no retries: an attacker refused is refused
        self.answered.set()

    def _on_subscribe(self, c: mqtt.Client, u: Any, mid: int, granted: Any, props: Any = None) -> None:
        self.granted = list(granted)
        self.subscribed.set()

    @property
    def refused(self) -> bool:
        return bool(self.connack is not None and self.connack.is_failure)

    def subscribe(self, *filters: str) -> list[Any]:
        self.subscribed.clear()
        self.client.subscribe([(f, 1) for f in filters])
        assert self.subscribed.wait(10), "no SUBACK"
        return self.granted

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def site_cfg(tmp_path: Path, broker: MosquittoServer, site_id: str) -> Iterator[Config]:
    """The edge's and the hub's accounts for a site of this test alone, as the launcher makes them."""
    cfg = make_cfg(tmp_path, broker)
    suffix = secrets.token_hex(3)
    own_site(cfg, tmp_path, site_id)
    cfg.edge.agent_id = f"edge-{suffix}"
    cfg.edge.mqtt_username = f"floorops-edge-{suffix}"
    cfg.hub.mqtt_username = f"floorops-hub-{suffix}"
    provision_services(cfg, cfg.edge.mqtt_username)
    yield cfg


def _account(cfg: Config, username: str) -> Any:
    return next(a for a in service_accounts(cfg, cfg.site.id, supervisor=False) if a.username == username)


def _devices(dynsec: DynsecClient, cfg: Config, *ids: str) -> list[Any]:
    return [dynsec.provision_device(cfg.site.id, "kiosk", f"{cfg.site.id}-{i}") for i in ids]


def _probe_payload() -> bytes:
    ts = int(time.time() * 1000)
    return (b'{"v":1,"ts":%d,"seq":1,"sightings":[{"mac":"a4:5e:60:12:34:56","rssi":-50,"ts":%d}]}' % (ts, ts))


def test_device_cannot_take_the_edges_session(broker: MosquittoServer, dynsec: DynsecClient,
                                               site_cfg: Config) -> None:
    cfg = site_cfg
    edge = _account(cfg, cfg.edge.mqtt_username)
    session = Peer(broker.port, edge.username, edge.password, edge.client_id, persistent=True)
    assert not session.refused
    session.subscribe(f"hospital/{cfg.site.id}/#")
    session.close()  # offline: the broker queues for it, as during an edge restart
    probe = dynsec.provision_device(cfg.site.id, "wifi_probe", f"{cfg.site.id}-probe")
    sender = Peer(broker.port, probe.username, probe.password, probe.username)
    sender.publish(f"hospital/{cfg.site.id}/wifi_probe/{probe.username}/telemetry", _probe_payload()).wait_for_publish(5)
    sender.close()

    (kiosk,) = _devices(dynsec, cfg, "kiosk")
    thief = Peer(broker.port, kiosk.username, kiosk.password, edge.client_id, persistent=True)
    time.sleep(0.5)
    thief.close()
    assert thief.refused, "a kiosk account connected with the edge's client id"
    assert thief.connack.value == 135, thief.connack  # Not authorized
    assert not thief.messages, "a kiosk account received the edge's queued probe payloads"

    back = Peer(broker.port, edge.username, edge.password, edge.client_id, persistent=True)
    try:
        assert back.session_present, "the edge lost its persistent session"
        wait_for(lambda: back.messages, 5, "the queued probe message")
        assert b"a4:5e:60:12:34:56" in back.messages[0].payload
    finally:
        back.close()


def test_device_cannot_take_the_hubs_sessions(broker: MosquittoServer, dynsec: DynsecClient,
                                              site_cfg: Config) -> None:
    cfg = site_cfg
    (kiosk,) = _devices(dynsec, cfg, "kiosk")
    for name in HUB_SESSIONS:
        hub = _account(cfg, next(a.username for a in service_accounts(cfg, cfg.site.id, supervisor=False)
                                 if a.client_id == hub_client_id(cfg.hub.mqtt_username, cfg.site.id, name)))
        session = Peer(broker.port, hub.username, hub.password, hub.client_id, persistent=True)
        assert not session.refused, f"the hub's {name} account was refused its own client id"
        session.subscribe(f"floorops/{cfg.site.id}/#")
        session.close()
        thief = Peer(broker.port, kiosk.username, kiosk.password, hub.client_id, persistent=True)
        thief.close()
        assert thief.refused, f"a kiosk account connected with the hub's {name} client id"
        back = Peer(broker.port, hub.username, hub.password, hub.client_id, persistent=True)
        back.close()
        assert back.session_present, f"the hub's {name} session was lost"
    # The hub's CLI (registry publisher) and the two sessions cannot use one another's ids either.
    accounts = [a for a in service_accounts(cfg, cfg.site.id, supervisor=False) if a.username.startswith(cfg.hub.mqtt_username)]
    assert len({a.client_id for a in accounts}) == len(accounts) == 3
    for a in accounts:
        for other in accounts:
            if other is not a:
                p = Peer(broker.port, a.username, a.password, other.client_id)
                p.close()
                assert p.refused, f"{a.username} connected with {other.client_id}"


def test_device_cannot_kick_another_device_off(broker: MosquittoServer, dynsec: DynsecClient,
                                               site_cfg: Config) -> None:
    cfg = site_cfg
    victim, attacker = _devices(dynsec, cfg, "victim", "attacker")
    edge = _account(cfg, cfg.edge.mqtt_username)
    status = f"hospital/{cfg.site.id}/kiosk/{victim.username}/status"
    watcher = Peer(broker.port, edge.username, edge.password, edge.client_id)
    v = Peer(broker.port, victim.username, victim.password, victim.username, will=(status, b'{"state":"offline"}'))
    try:
        watcher.subscribe(status)
        a = Peer(broker.port, attacker.username, attacker.password, victim.username)
        a.close()
        assert a.refused, "a device connected with another device's client id"
        time.sleep(1.0)
        assert v.connected.is_set(), "the victim was kicked off"
        assert not watcher.messages, "the victim's Last Will fired (a false offline alarm)"
        info = v.publish(status, b'{"state":"online"}')
        info.wait_for_publish(5)
        assert info.is_published()
        wait_for(lambda: watcher.messages, 5, "the victim's own message")
    finally:
        v.close()
        watcher.close()


def test_device_receives_nothing(broker: MosquittoServer, dynsec: DynsecClient, site_cfg: Config) -> None:
    cfg = site_cfg
    kiosk, other = _devices(dynsec, cfg, "reader", "talker")
    own = f"hospital/{cfg.site.id}/kiosk/{kiosk.username}"
    reader = Peer(broker.port, kiosk.username, kiosk.password, kiosk.username)
    talker = Peer(broker.port, other.username, other.password, other.username)
    # An account whose role lets it subscribe but grants no receiving (an operator's slip, a role from an
    # older install): the broker's default must still deliver it nothing.
    sneak_user = f"{cfg.site.id}-sneak"
    dynsec.provision_service(sneak_user, "pw-sneak", [{"acltype": "subscribePattern", "topic": "#", "allow": True}])
    sneak = Peer(broker.port, sneak_user, "pw-sneak", sneak_user)
    try:
        reader.subscribe("#", f"{own}/#")
        assert sneak.subscribe("#")[0].value < 128, "the sneak's subscription was refused: the test proves nothing"
        talker.publish(f"hospital/{cfg.site.id}/kiosk/{other.username}/telemetry", b'{"v":1}').wait_for_publish(5)
        reader.publish(f"{own}/telemetry", b'{"v":1}').wait_for_publish(5)
        time.sleep(1.5)
        assert not reader.messages, [m.topic for m in reader.messages]
        assert not sneak.messages, [m.topic for m in sneak.messages]
    finally:
        for p in (reader, talker, sneak):
            p.close()


def test_packet_size_limit(broker: MosquittoServer, dynsec: DynsecClient, site_cfg: Config) -> None:
    cfg = site_cfg
    (kiosk,) = _devices(dynsec, cfg, "big")
    edge = _account(cfg, cfg.edge.mqtt_username)
    topic = f"hospital/{cfg.site.id}/kiosk/{kiosk.username}/telemetry"
    watcher = Peer(broker.port, edge.username, edge.password, edge.client_id)
    device = Peer(broker.port, kiosk.username, kiosk.password, kiosk.username)
    try:
        watcher.subscribe(topic)
        contract_max = b"x" * (256 * 1024)
        device.publish(topic, contract_max).wait_for_publish(10)
        wait_for(lambda: any(len(m.payload) == len(contract_max) for m in watcher.messages), 10,
                 "the 256 KiB message delivered")
        watcher.messages.clear()
        device.publish(topic, b"y" * (20 * 1024 * 1024))
        wait_for(lambda: not device.connected.is_set(), 10, "the 20 MB sender disconnected")
        time.sleep(1.5)
        assert not watcher.messages, "a 20 MB message was delivered"
    finally:
        device.close()
        watcher.close()


def _metric(url: str, name: str) -> float | None:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def test_queue_overflow_is_counted_and_alarmed(tmp_path: Path, make_broker: Any, influx: InfluxServer,
                                               influx_db: str) -> None:
    small = make_broker(max_queued_messages=20, sys_interval_s=1)
    cfg = make_cfg(tmp_path, small, influx, influx_db)
    cfg.site.id = "demo"
    provision_services(cfg, cfg.edge.mqtt_username)
    ensure_user(cfg, "monitor", "monitor", "monitor-pass-1")
    hub = HubProcess(cfg).start()
    try:
        with DynsecClient("127.0.0.1", small.port, small.admin_username, small.admin_password) as ds:
            kiosk = ds.provision_device("demo", "kiosk", "kiosk-flood")
        edge = _account(cfg, cfg.edge.mqtt_username)
        session = Peer(small.port, edge.username, edge.password, edge.client_id, persistent=True)
        session.subscribe("hospital/demo/#")
        session.close()  # the edge is down: its session queues, 20 messages at most
        device = Peer(small.port, kiosk.username, kiosk.password, kiosk.username)
        for seq in range(60):
            device.publish("hospital/demo/kiosk/kiosk-flood/telemetry", b'{"v":1,"seq":%d}' % seq)
        device.client.publish("hospital/demo/kiosk/kiosk-flood/telemetry", b"{}", qos=1).wait_for_publish(10)
        device.close()
        dropped = wait_for(lambda: (_metric(hub.url, "floorops_broker_dropped_messages_total") or 0) >= 40, 20,
                           "the broker's drop counter on the hub's /metrics")
        assert dropped
        status, body = http(hub.url + "/api/login", "POST", {"username": "monitor", "password": "monitor-pass-1"})
        assert status == 200, body
        token = body["token"]

        def alarm() -> Any:
            _, alarms = http(hub.url + "/api/alarms", token=token)
            items = alarms["alarms"] if isinstance(alarms, dict) else alarms
            return next((a for a in items if a["type"] == "broker_dropping" and a["state"] == "active"), None)

        raised = wait_for(alarm, 15, "the broker_dropping alarm")
        assert raised["severity"] == "critical"
        assert raised["detail"]["dropped_total"] >= 40
    finally:
        hub.stop()
