"""Broker accounts and ACLs, changed at run time through Mosquitto's dynamic security plugin.

Every device gets its own username, a random password and a role that lets it publish only under
``hospital/<site>/<kind>/<device_id>/`` and subscribe to nothing: it cannot read other devices'
traffic (probe payloads carry raw MACs). FloorOps' own components get roles for their own topics.
Commands go to ``$CONTROL/dynamic-security/v1`` as the dynsec admin; the running broker applies them
at once, with no restart.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from floorops.mqtt_client import Endpoint, configure

from floorops.contract import device_topic_prefix
from floorops.topics import ROOT, supervisor_filter

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = "$CONTROL/dynamic-security/v1/response"


class DynsecError(RuntimeError):
    """The broker refused a dynamic-security command, or did not answer."""


def new_password() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def device_acls(site: str, kind: str, device_id: str) -> list[dict[str, Any]]:
    """A device publishes under its own prefix, and nothing else."""
    return [{"acltype": "publishClientSend", "topic": device_topic_prefix(site, kind, device_id) + "#", "allow": True}]


def device_role(device_id: str) -> str:
    """The role holding one device's ACL (created by ``provision_device``, deleted when it is removed)."""
    return f"device-{device_id}"


def edge_acls(site: str) -> list[dict[str, Any]]:
    """The edge reads every device of its site and writes FloorOps' internal topics of the site."""
    own = f"{ROOT}/{site}/#"
    return [
        {"acltype": "subscribePattern", "topic": f"hospital/{site}/#", "allow": True},
        {"acltype": "subscribePattern", "topic": f"$share/+/hospital/{site}/#", "allow": True},
        {"acltype": "subscribePattern", "topic": own, "allow": True},
        {"acltype": "publishClientSend", "topic": own, "allow": True},
    ]


def hub_acls(site: str) -> list[dict[str, Any]]:
    """The hub reads and writes FloorOps' internal topics only: no raw device traffic."""
    own = f"{ROOT}/{site}/#"
    return [
        {"acltype": "subscribePattern", "topic": own, "allow": True},
        {"acltype": "publishClientSend", "topic": own, "allow": True},
    ]


def supervisor_acls(site: str) -> list[dict[str, Any]]:
    """make run's launcher announces restarts of its children, and may do nothing else."""
    return [{"acltype": "publishClientSend", "topic": supervisor_filter(site), "allow": True}]


class DynsecClient:
    """A small synchronous client for dynsec commands (used by CLIs and the launcher)."""

    def __init__(self, host: str, port: int, username: str, password: str, timeout_s: float = 10.0,
                 cafile: str = "") -> None:
        self._timeout = timeout_s
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dynsec-{uuid.uuid4().hex[:8]}")
        configure(self._client, Endpoint(host, port, cafile), username, password)  # TLS when cafile is given
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._connected = threading.Event()
        self._rc: Any = None

        def on_connect(client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
            self._rc = rc
            self._connected.set()

        self._client.on_connect = on_connect
        self._client.connect(host, port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(timeout_s):
            self.close()
            raise DynsecError("broker did not answer the connection")
        if getattr(self._rc, "is_failure", False):
            self.close()
            raise DynsecError(f"broker refused the dynsec admin: {self._rc}")
        self._client.subscribe(RESPONSE_TOPIC, qos=1)
        if not self._subscribed.wait(timeout_s):
            self.close()
            raise DynsecError("no subscription acknowledgement from the broker")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(msg.payload).get("responses", [])
        except ValueError:
            return
        for r in responses:
            corr = r.get("correlationData")
            with self._lock:
                slot = self._waiting.get(corr)
            if slot:
                slot[1].append(r)
                slot[0].set()

    def command(self, command: str, **args: Any) -> dict[str, Any]:
        """Send one command and wait for its response; raise on an error other than 'already exists'."""
        corr = uuid.uuid4().hex
        done = threading.Event()
        box: list[dict[str, Any]] = []
        with self._lock:
            self._waiting[corr] = (done, box)
        try:
            payload = {"commands": [{"command": command, "correlationData": corr, **args}]}
            self._client.publish(CONTROL_TOPIC, json.dumps(payload), qos=1)
            if not done.wait(self._timeout):
                raise DynsecError(f"{command}: no answer from the broker")
        finally:
            with self._lock:
                self._waiting.pop(corr, None)
        response = box[0]
        if "error" in response:
            raise DynsecError(f"{command}: {response['error']}")
        return response

    def ensure_role(self, rolename: str, acls: list[dict[str, Any]]) -> None:
        """Create the role, or reset its ACLs to exactly ``acls``."""
        try:
            self.command("createRole", rolename=rolename, acls=acls)
            return
        except DynsecError as exc:
            if "already exists" not in str(exc):
                raise
        current = self.command("getRole", rolename=rolename).get("data", {}).get("role", {}).get("acls", [])
        for acl in current:
            self.command("removeRoleACL", rolename=rolename, acltype=acl["acltype"], topic=acl["topic"])
        for acl in acls:
            self.command("addRoleACL", rolename=rolename, **acl)

    def ensure_client(self, username: str, password: str, rolename: str) -> None:
        """Create the client with that password and role, or reset both if it exists."""
        try:
            self.command("createClient", username=username, password=password, roles=[{"rolename": rolename}])
            return
        except DynsecError as exc:
            if "already exists" not in str(exc):
                raise
        self.command("setClientPassword", username=username, password=password)
        # Mosquitto 2.0.11 answers "Internal error" to adding a role the client already has: ask first.
        client = self.command("getClient", username=username).get("data", {}).get("client", {})
        if rolename not in {r.get("rolename") for r in client.get("roles", [])}:
            self.command("addClientRole", username=username, rolename=rolename)

    def delete_client(self, username: str) -> None:
        self.command("deleteClient", username=username)

    def delete_role(self, rolename: str) -> None:
        """Delete a role (a removed device's ``device-<id>``); raises DynsecError if there is none.

        Mosquitto 2.0.11's plugin stops answering every later command if a role still held by a client is
        deleted, so the clients holding it lose it first (FloorOps gives roles to clients, not groups)."""
        clients = self.command("listClients", verbose=True, count=-1).get("data", {}).get("clients", [])
        for c in clients:
            if rolename in {r.get("rolename") for r in c.get("roles", [])}:
                self.command("removeClientRole", username=c["username"], rolename=rolename)
        self.command("deleteRole", rolename=rolename)

    def role_names(self) -> list[str]:
        """Every role the broker has (``listRoles``)."""
        return list(self.command("listRoles", count=-1).get("data", {}).get("roles", []))

    def provision_device(self, site: str, kind: str, device_id: str) -> Credentials:
        """A fresh password and an own-topic-only role for one device (run again to rotate it)."""
        username = device_id
        password = new_password()
        role = device_role(device_id)
        self.ensure_role(role, device_acls(site, kind, device_id))
        self.ensure_client(username, password, role)
        return Credentials(username, password)

    def provision_service(self, username: str, password: str, acls: list[dict[str, Any]]) -> Credentials:
        self.ensure_role(f"svc-{username}", acls)
        self.ensure_client(username, password, f"svc-{username}")
        return Credentials(username, password)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()

    def __enter__(self) -> "DynsecClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def for_config(cls, cfg: Any, timeout_s: float = 10.0) -> "DynsecClient":
        """As the broker admin of ``cfg`` (a floorops.config.Config), plain on loopback or TLS (mqtt.tls)."""
        from floorops.mqtt_client import endpoint

        ep = endpoint(cfg)
        return cls(ep.host, ep.port, cfg.broker.admin_username, cfg.broker.admin_password, timeout_s,
                   cafile=ep.cafile)
