"""The project's own broker and InfluxDB configuration, checked against the real servers."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest

from floorops.dynsec import DynsecClient, edge_acls
from centre.services import InfluxServer, MosquittoServer

pytestmark = pytest.mark.integration


def connect(port: int, username: str, password: str, client_id: str | None = None) -> tuple[mqtt.Client, mqtt.ReasonCode]:
    """Connect as FloorOps' accounts do: with the client id the account is bound to (the username)."""
    done = threading.Event()
    result: list[mqtt.ReasonCode] = []

    def on_connect(c, u, f, rc, p=None):
        result.append(rc)
        done.set()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username if client_id is None else client_id,
                    protocol=mqtt.MQTTv5)
    c.username_pw_set(username, password)
    c.on_connect = on_connect
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert done.wait(5), "no CONNACK"
    return c, result[0]


def test_anonymous_and_wrong_password_are_refused(broker: MosquittoServer, dynsec: DynsecClient) -> None:
    creds = dynsec.provision_device("demo", "kiosk", "kiosk-auth")
    c, rc = connect(broker.port, creds.username, "wrong")
    c.loop_stop()
    assert rc.is_failure
    c, rc = connect(broker.port, "", "")
    c.loop_stop()
    assert rc.is_failure
    c, rc = connect(broker.port, creds.username, creds.password)
    c.disconnect()
    c.loop_stop()
    assert not rc.is_failure


def test_device_publishes_only_under_its_own_topic_and_reads_nothing(
    broker: MosquittoServer, dynsec: DynsecClient, site_id: str
) -> None:
    # A site of its own: the shared broker holds other tests' retained messages under their sites.
    a = dynsec.provision_device(site_id, "wifi_probe", "probe-acl-a")
    b = dynsec.provision_device(site_id, "wifi_probe", "probe-acl-b")
    reader = dynsec.provision_service("floorops-edge-acl", "pw-acl", edge_acls(site_id))
    got: list[str] = []
    edge, rc = connect(broker.port, reader.username, reader.password)
    assert not rc.is_failure
    subscribed = threading.Event()
    edge.on_subscribe = lambda *a: subscribed.set()
    edge.on_message = lambda c, u, m: got.append(m.topic)
    edge.subscribe(f"hospital/{site_id}/#", qos=1)
    assert subscribed.wait(5)

    # Device B tries to read everything: the broker refuses the subscription.
    dev_b, _ = connect(broker.port, b.username, b.password)
    granted: list[list[mqtt.ReasonCode]] = []
    sub_done = threading.Event()

    def on_sub(c, u, mid, rcs, p=None):
        granted.append(rcs)
        sub_done.set()

    spied: list[str] = []
    dev_b.on_subscribe = on_sub
    dev_b.on_message = lambda c, u, m: spied.append(m.topic)
    dev_b.subscribe("hospital/#", qos=1)
    assert sub_done.wait(5)
    assert all(r.is_failure for r in granted[0])

    dev_a, _ = connect(broker.port, a.username, a.password)
    dev_a.publish(f"hospital/{site_id}/wifi_probe/probe-acl-a/telemetry", b"{}", qos=1).wait_for_publish(5)
    # A publishes as B: MQTT 5 tells it "not authorized" and the message is not delivered.
    dev_a.publish(f"hospital/{site_id}/wifi_probe/probe-acl-b/telemetry", b"{}", qos=1).wait_for_publish(5)
    dev_a.publish(f"floorops/{site_id}/zone/x/occupancy", b"{}", qos=1).wait_for_publish(5)
    dev_a.publish(f"hospital/{site_id}/wifi_probe/probe-acl-a/telemetry", b"last", qos=1).wait_for_publish(5)
    import time

    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    for c in (edge, dev_a, dev_b):
        c.disconnect()
        c.loop_stop()
    assert got == [f"hospital/{site_id}/wifi_probe/probe-acl-a/telemetry"] * 2
    assert spied == []


def test_dynsec_admin_cannot_read_device_traffic(broker: MosquittoServer) -> None:
    c, rc = connect(broker.port, broker.admin_username, broker.admin_password)
    assert not rc.is_failure
    granted: list[list[mqtt.ReasonCode]] = []
    done = threading.Event()
    c.on_subscribe = lambda cl, u, mid, rcs, p=None: (granted.append(rcs), done.set())
    c.subscribe("hospital/#", qos=1)
    assert done.wait(5)
    c.disconnect()
    c.loop_stop()
    assert granted[0][0].is_failure


def test_broker_config_keeps_qos1_messages(broker: MosquittoServer) -> None:
    conf = broker.conf_path.read_text()
    assert "allow_anonymous false" in conf
    assert "persistence true" in conf
    assert f"max_queued_messages {broker.max_queued_messages}" in conf
    assert broker.max_queued_messages >= 1_000_000


def test_influx_answers_line_protocol_and_influxql(influx: InfluxServer, influx_db: str) -> None:
    import urllib.request

    body = b"probe_test,zone=lab value=3i 1763884800000000000\nprobe_test,zone=lab value=4i 1763884801000000000\n"
    req = urllib.request.Request(f"{influx.url}/write?db={influx_db}", data=body, method="POST")
    with urllib.request.urlopen(req) as r:
        assert r.status == 204
    res = InfluxServer(influx.data_dir, influx.http_port, influx.rpc_port, database=influx_db).query(
        "SELECT sum(value) FROM probe_test"
    )
    assert res["results"][0]["series"][0]["values"][0][1] == 7


def test_provisioning_again_rotates_the_password(broker: MosquittoServer, dynsec: DynsecClient) -> None:
    first = dynsec.provision_device("demo", "kiosk", "kiosk-rotate")
    second = dynsec.provision_device("demo", "kiosk", "kiosk-rotate")
    assert first.password != second.password
    c, rc = connect(broker.port, second.username, first.password)
    c.loop_stop()
    assert rc.is_failure
    c, rc = connect(broker.port, second.username, second.password)
    c.disconnect()
    c.loop_stop()
    assert not rc.is_failure


def test_a_free_port_is_one_no_outgoing_connection_can_take_before_the_server_binds_it(tmp_path) -> None:
    import socket

    from centre.services import ephemeral_range, free_port

    lo, hi = ephemeral_range()
    ports = [free_port() for _ in range(40)]
    assert all(not lo <= p <= hi for p in ports), (lo, hi, ports)  # outgoing connections use lo..hi
    assert len(set(ports)) == len(ports)  # picked before any server binds them: all different
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[0]))  # and free
    weird = tmp_path / "range"
    weird.write_text("not numbers\n")
    assert ephemeral_range(weird) == (32768, 60999)  # Linux's default when the file cannot be read
