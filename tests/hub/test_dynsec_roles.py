"""Deleting a device's broker role (``DynsecClient.delete_role``, used by ``hub.provisioning.remove_device``)
against a real Mosquitto: the role is gone, the device's publishes stop reaching the edge, and the broker's
dynamic-security plugin keeps answering (2.0.11 stops answering if a role a client still holds is deleted)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Callable

import paho.mqtt.client as mqtt
import pytest

from floorops.dynsec import AlreadyExists, DynsecClient, DynsecError, NotFound, command_error, device_role, edge_acls
from centre.services import MosquittoServer

pytestmark = pytest.mark.integration


def connect(port: int, username: str, password: str) -> mqtt.Client:
    done = threading.Event()
    # Each account is bound to one client id: its username, for these accounts (floorops.dynsec).
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5)
    c.username_pw_set(username, password)
    c.on_connect = lambda *a: done.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert done.wait(5), "no CONNACK"
    return c


def test_delete_role_held_by_a_client_stops_its_publishes_and_the_broker_keeps_answering(
        make_broker: Callable[..., MosquittoServer]) -> None:
    broker = make_broker()  # its own broker: a broken dynsec plugin must not leak into other tests
    with DynsecClient("127.0.0.1", broker.port, broker.admin_username, broker.admin_password, timeout_s=5) as ds:
        creds = ds.provision_device("roles", "kiosk", "kiosk-role")
        edge_creds = ds.provision_service("floorops-edge-roles", "pw-roles", edge_acls("roles"))
        got: list[bytes] = []
        subscribed = threading.Event()
        edge = connect(broker.port, edge_creds.username, edge_creds.password)
        edge.on_subscribe = lambda *a: subscribed.set()
        edge.on_message = lambda c, u, m: got.append(m.payload)
        edge.subscribe("hospital/roles/#", qos=1)
        assert subscribed.wait(5)
        device = connect(broker.port, creds.username, creds.password)
        topic = "hospital/roles/kiosk/kiosk-role/telemetry"
        try:
            device.publish(topic, b"before", qos=1).wait_for_publish(5)
            deadline = time.monotonic() + 5
            while not got and time.monotonic() < deadline:
                time.sleep(0.05)
            assert got == [b"before"]

            ds.delete_role(device_role("kiosk-role"))  # the device still holds it, and is connected

            assert device_role("kiosk-role") not in ds.role_names()
            # The broker drops a client whose roles change; logged in again, it may publish nothing.
            device.disconnect()
            device.loop_stop()
            device = connect(broker.port, creds.username, creds.password)
            device.publish(topic, b"after", qos=1).wait_for_publish(5)
            # The plugin still answers: a new device is provisioned, and its message arrives.
            other = ds.provision_device("roles", "kiosk", "kiosk-role-2")
            second = connect(broker.port, other.username, other.password)
            second.publish("hospital/roles/kiosk/kiosk-role-2/telemetry", b"other", qos=1).wait_for_publish(5)
            deadline = time.monotonic() + 5
            while b"other" not in got and time.monotonic() < deadline:
                time.sleep(0.05)
            second.disconnect()
            second.loop_stop()
            assert got == [b"before", b"other"]
            with pytest.raises(NotFound):
                ds.delete_role(device_role("kiosk-role"))
        finally:
            for c in (device, edge):
                c.disconnect()
                c.loop_stop()


def test_an_older_screen_account_gets_its_command_topic_on_refresh(dynsec: DynsecClient) -> None:
    """A queue screen provisioned by an older FloorOps had a publish-only role; the launcher's start
    (``refresh_device_role``) gives it today's ACLs, its command topic included, and keeps its account."""
    from floorops.dynsec import device_acls

    creds = dynsec.provision_device("refresh", "queue_screen", "qs-old-1")
    old = [a for a in device_acls("refresh", "queue_screen", "qs-old-1") if a["acltype"] == "publishClientSend"
           and a["allow"]]
    dynsec.ensure_role(device_role("qs-old-1"), old)  # what the older FloorOps left

    def acls() -> set[tuple[str, str, bool]]:
        role = dynsec.command("getRole", rolename=device_role("qs-old-1"))["data"]["role"]
        return {(a["acltype"], a["topic"], a["allow"]) for a in role["acls"]}

    assert ("subscribeLiteral", "hospital/refresh/queue_screen/qs-old-1/cmd", True) not in acls()
    dynsec.refresh_device_role("refresh", "queue_screen", "qs-old-1")
    assert acls() == {(a["acltype"], a["topic"], a["allow"]) for a in device_acls("refresh", "queue_screen", "qs-old-1")}
    client = dynsec.command("getClient", username=creds.username)["data"]["client"]
    assert {r["rolename"] for r in client["roles"]} == {device_role("qs-old-1")}


def test_the_brokers_error_texts_come_back_as_typed_errors(dynsec: DynsecClient) -> None:
    """The plugin answers errors as text; DynsecClient maps them once, so callers branch on types
    (hub.provisioning's removal, ensure_role/ensure_client run again)."""
    role = f"typed-{uuid.uuid4().hex[:8]}"
    dynsec.command("createRole", rolename=role)
    with pytest.raises(AlreadyExists):
        dynsec.command("createRole", rolename=role)
    dynsec.ensure_role(role, [])  # exists: its ACLs are reset, no error
    dynsec.command("deleteRole", rolename=role)
    with pytest.raises(NotFound):
        dynsec.command("deleteRole", rolename=role)
    with pytest.raises(NotFound):
        dynsec.delete_client(f"nobody-{role}")
    with pytest.raises(DynsecError) as other:
        dynsec.command("createRole")  # no role name: refused, but neither of the two
    assert type(other.value) is DynsecError


def test_command_error_reads_the_text_once() -> None:
    assert type(command_error("deleteClient", "Client not found")) is NotFound
    assert type(command_error("createRole", "Role already exists")) is AlreadyExists
    err = command_error("createRole", "Invalid/missing rolename")
    assert type(err) is DynsecError and str(err) == "createRole: Invalid/missing rolename"
