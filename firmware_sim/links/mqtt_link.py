"""One MQTT client per networked device, with the device's own credentials, status and Last Will.

A device connects with a retained ``offline`` Last Will, publishes a retained ``online`` status on
every (re)connection, and on power loss drops its TCP connection without a DISCONNECT packet, so that
the broker publishes the Will, as it would for a real device losing power.
"""

from __future__ import annotations

import collections
import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt

from firmware_sim.devices.base import FIRMWARE
from floorops import contract
from floorops.mqtt_client import Endpoint, configure
from floorops.topics import command_topic, device_topic

# Commands the broker delivered, (device id, payload), for the simulation's loop to hand to the devices.
Inbox = collections.deque[tuple[str, bytes]]

log = logging.getLogger(__name__)


class CredentialsError(ValueError):
    """The device credentials file is missing or unreadable."""


def load_credentials(path: Path) -> dict[str, dict[str, Any]]:
    """``{device_id: {"id","mqtt_username","mqtt_password","topic_prefix"}}`` written by provisioning."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CredentialsError(f"{path}: no device credentials file (run the launcher or hub devices add)") from None
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"{path}: unreadable device credentials ({exc})") from None
    if not isinstance(data, dict):
        raise CredentialsError(f"{path}: expected a JSON object of devices")
    return data


def status_payload(state: str, ts_ms: int) -> bytes:
    return json.dumps({"v": contract.CONTRACT_VERSION, "ts": ts_ms, "state": state, "fw": FIRMWARE}).encode()


class DeviceConnection:
    """A device's MQTT session; ``power_off`` kills it without DISCONNECT."""

    def __init__(self, device_id: str, kind: str, site_id: str, creds: dict[str, Any], host: str, port: int,
                 keepalive_s: int, now_ms: Callable[[], int], cafile: str = "", inbox: Inbox | None = None,
                 commanded: bool = False) -> None:
        self.device_id = device_id
        self.cafile = cafile  # TLS trusting this CA; empty: plain MQTT
        # A commanded kind (DeviceKind.commanded, a queue screen) reads its own command topic, with its own
        # account (floorops.dynsec).
        self.command_topic = command_topic(site_id, kind, device_id) if commanded else ""
        self.inbox = inbox
        self.host, self.port, self.keepalive_s = host, port, keepalive_s
        self.creds = creds
        self.status_topic = device_topic(site_id, kind, device_id, "status")
        self.now_ms = now_ms
        self.client: mqtt.Client | None = None
        self.connected = threading.Event()
        self.failed_publishes = 0
        self.refused: str = ""

    def power_on(self, ts_ms: int) -> None:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.device_id, protocol=mqtt.MQTTv311,
                        clean_session=True)
        configure(c, Endpoint(self.host, self.port, self.cafile), self.creds["mqtt_username"],
                  self.creds["mqtt_password"])
        c.will_set(self.status_topic, status_payload("offline", ts_ms), qos=1, retain=True)
        c.reconnect_delay_set(1, 30)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self.client = c
        c.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        c.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        if getattr(rc, "is_failure", False):
            self.refused = str(rc)
            log.error("broker refused device", extra={"device": self.device_id, "reason": str(rc)})
            return
        self.connected.set()
        if self.command_topic:  # a clean session: subscribe again on every connection
            client.subscribe(self.command_topic, qos=1)
        client.publish(self.status_topic, status_payload("online", self.now_ms()), qos=1, retain=True)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self.command_topic and self.inbox is not None:
            self.inbox.append((self.device_id, bytes(msg.payload)))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        self.connected.clear()

    def publish(self, topic: str, payload: bytes, retain: bool, qos: int) -> bool:
        """False when the message is lost on the device (not connected, or paho refused it)."""
        c = self.client
        if c is None or not self.connected.is_set():
            self.failed_publishes += 1  # a real device would lose it too (no offline queue in firmware)
            return False
        info = c.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.failed_publishes += 1
            return False
        return True

    def power_off(self) -> None:
        """Pull the plug: stop the network loop and close the socket; no DISCONNECT is sent."""
        c, self.client = self.client, None
        self.connected.clear()
        if c is None:
            return
        c.loop_stop()
        sock = c.socket()
        if isinstance(sock, socket.socket):  # paho's SocketLike may be a websocket wrapper with no shutdown
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def announce_offline(self) -> mqtt.MQTTMessageInfo | None:
        """First half of an orderly stop: the retained offline status, not waited for here."""
        c = self.client
        if c is None or not self.connected.is_set():
            return None
        return c.publish(self.status_topic, status_payload("offline", self.now_ms()), qos=1, retain=True)

    def disconnect(self) -> None:
        """Second half: DISCONNECT, so the broker sends no Last Will. Also ends a reconnect wait, which
        ``stop_loop`` would otherwise sit out (up to 1 s a client)."""
        self.connected.clear()
        if self.client is not None:
            self.client.disconnect()

    def stop_loop(self) -> None:
        c, self.client = self.client, None
        if c is not None:
            c.loop_stop()


class MqttLink:
    """All networked devices' connections; devices without credentials are reported and skipped."""

    def __init__(self, site_id: str, credentials: dict[str, dict[str, Any]], host: str, port: int,
                 keepalive_s: int, now_ms: Callable[[], int], cafile: str = "") -> None:
        self.site_id = site_id
        self.cafile = cafile
        self.credentials = credentials
        self.host, self.port, self.keepalive_s = host, port, keepalive_s
        self.now_ms = now_ms
        self.connections: dict[str, DeviceConnection] = {}
        self.missing: set[str] = set()
        self.kinds: dict[str, tuple[str, bool]] = {}  # device id -> its kind, and whether it takes commands
        self.inbox: Inbox = collections.deque(maxlen=10_000)

    def register(self, device_id: str, kind: str, commanded: bool = False) -> None:
        self.kinds[device_id] = (kind, commanded)

    def power(self, device_id: str, on: bool, ts_ms: int) -> None:
        registered = self.kinds.get(device_id)
        if registered is None:
            return  # not a networked device
        kind, commanded = registered
        if not on:
            conn = self.connections.pop(device_id, None)
            if conn is not None:
                conn.power_off()
            return
        creds = self.credentials.get(device_id)
        if not (isinstance(creds, dict) and isinstance(creds.get("mqtt_username"), str)
                and isinstance(creds.get("mqtt_password"), str)):
            if device_id not in self.missing:
                self.missing.add(device_id)
                what = "no credentials" if creds is None else "unusable credentials (need mqtt_username, mqtt_password)"
                log.error(f"{what} for device; it stays silent", extra={"device": device_id})
            return
        if device_id in self.connections:
            return
        conn = DeviceConnection(device_id, kind, self.site_id, creds, self.host, self.port, self.keepalive_s,
                                self.now_ms, cafile=self.cafile, inbox=self.inbox, commanded=commanded)
        self.connections[device_id] = conn
        conn.power_on(ts_ms)

    def publish(self, device_id: str, topic: str, payload: bytes, retain: bool, qos: int) -> bool:
        conn = self.connections.get(device_id)
        return conn is not None and conn.publish(topic, payload, retain, qos)

    def close(self, announce_offline: bool = True, timeout_s: float = 2.0) -> None:
        """Orderly stop of every device: offline statuses (unless ``announce_offline`` is false: the
        devices stay on, only the simulation stops), then DISCONNECTs, within ``timeout_s`` in all.

        Every status is published before any is waited for, and every client is told to disconnect before
        any loop is joined: with the broker gone, a device-by-device stop sat out each client's reconnect
        wait (45 devices: over 45 s), and the launcher had to kill the simulator, leaving its socat
        processes behind."""
        conns = list(self.connections.values())
        self.connections.clear()
        sent = [conn.announce_offline() for conn in conns] if announce_offline else []
        deadline = time.monotonic() + timeout_s
        for info in sent:
            if info is None:
                continue
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError):  # not queued: the connection is gone
                pass
        for conn in conns:
            conn.disconnect()
        for conn in conns:
            conn.stop_loop()
