"""Broker accounts and ACLs, changed at run time through Mosquitto's dynamic security plugin.

Every device gets its own username, a random password and a role that lets it publish only under
``hospital/<site>/<kind>/<device_id>/`` and subscribe to nothing but its own command topic (queue screens,
floorops.downlink): it cannot read other devices' traffic (probe payloads carry raw MACs) or commands. FloorOps' own components get roles for their own topics.
Commands go to ``$CONTROL/dynamic-security/v1`` as the dynsec admin; the running broker applies them
at once, with no restart.

Identity: every account is bound to exactly one client id (dynsec ``clientid``), and every connection
FloorOps opens has its own account, so no account can take another's session or kick another client off
(a device with the edge's id would otherwise get the edge's queued probe payloads; with another device's
id it would fire that device's Last Will). Device ids may not start with ``floorops-``, which the
service accounts' ids all do. Receiving is denied by default (``publishClientReceive``): only the edge
and the hub, which consume, are granted it on their own topics. The dynsec admin alone stays unbound: it
can rewrite every account anyway, and CLIs and the launcher use it from several processes at once.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

import logging
from floorops.kinds import BUILTIN, KindRegistry, from_plugins
from floorops.mqtt_client import Endpoint, configure

from floorops.topics import (command_filter, command_topic, device_publish_pattern, registry_filter,
                             shared_subscription_pattern, site_devices_filter, site_filter, supervisor_filter)

log = logging.getLogger("floorops.dynsec")

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
# Mosquitto's count of messages it dropped because a session's queue was full (max_queued_messages /
# max_queued_bytes); published every sys_interval. The hub reads it and raises ``broker_dropping``.
SYS_DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
# Nobody receives what no role grants (mosquitto_ctrl's default allows receiving).
DEFAULT_ACL_ACCESS = [
    {"acltype": "publishClientSend", "allow": False},
    {"acltype": "publishClientReceive", "allow": False},
    {"acltype": "subscribe", "allow": False},
    {"acltype": "unsubscribe", "allow": True},
]
RESPONSE_TOPIC = "$CONTROL/dynamic-security/v1/response"


class DynsecError(RuntimeError):
    """The broker refused a dynamic-security command, or did not answer."""


class NotFound(DynsecError):
    """The client, role or group a command names does not exist."""


class AlreadyExists(DynsecError):
    """The client, role or group a command creates exists already."""


# The plugin answers an error as text only ("Client not found", "Role already exists"...): read here,
# once, so that callers branch on the exception's type, never on its words.
_TYPED_ERRORS: tuple[tuple[str, type[DynsecError]], ...] = (("not found", NotFound), ("already exists", AlreadyExists))


def command_error(command: str, error: str) -> DynsecError:
    """The exception for the broker's ``error`` text answering ``command``."""
    text = error.lower()
    cls = next((c for phrase, c in _TYPED_ERRORS if phrase in text), DynsecError)
    return cls(f"{command}: {error}")


def new_password() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


# An ACL with a higher priority is checked first (Mosquitto dynsec): the denials below win over the
# broader grants of the same role.
DENY_FIRST = 10


def device_acls(site: str, kind: str, device_id: str, kinds: KindRegistry = BUILTIN) -> list[dict[str, Any]]:
    """A device publishes under its own prefix, and nothing else. A commanded kind (``DeviceKind.commanded``,
    a queue screen) also reads its own command topic, and only that; it may not write there (nobody but the
    hub may)."""
    acls: list[dict[str, Any]] = [
        {"acltype": "publishClientSend", "topic": device_publish_pattern(site, kind, device_id), "allow": True}]
    if kind in kinds.commanded_names:
        own = command_topic(site, kind, device_id)
        acls += [{"acltype": "publishClientSend", "topic": own, "allow": False, "priority": DENY_FIRST},
                 {"acltype": "subscribeLiteral", "topic": own, "allow": True},
                 {"acltype": "publishClientReceive", "topic": own, "allow": True}]
    return acls


def device_role(device_id: str) -> str:
    """The role holding one device's ACL (created by ``provision_device``, deleted when it is removed)."""
    return f"device-{device_id}"


def edge_acls(site: str) -> list[dict[str, Any]]:
    """The edge reads every device of its site and writes FloorOps' internal topics of the site."""
    own = site_filter(site)
    devices = site_devices_filter(site)
    return [
        # Commands are for their device alone: the edge, which reads the whole device tree, never gets them.
        {"acltype": "publishClientReceive", "topic": command_filter(site), "allow": False, "priority": DENY_FIRST},
        {"acltype": "subscribePattern", "topic": devices, "allow": True},
        {"acltype": "subscribePattern", "topic": shared_subscription_pattern(devices), "allow": True},
        {"acltype": "subscribePattern", "topic": own, "allow": True},
        {"acltype": "publishClientSend", "topic": own, "allow": True},
        {"acltype": "publishClientReceive", "topic": devices, "allow": True},
        {"acltype": "publishClientReceive", "topic": own, "allow": True},
    ]


def hub_acls(site: str, kinds: KindRegistry = BUILTIN) -> list[dict[str, Any]]:
    """The hub reads and writes FloorOps' internal topics only: no raw device traffic. It also reads the
    broker's dropped-messages counter (``SYS_DROPPED_TOPIC``), so that an overflow raises an alarm, and it
    alone writes the commanded devices' command topics (floorops.downlink; it reads none of them)."""
    own = site_filter(site)
    return [
        *({"acltype": "publishClientSend", "topic": command_filter(site, kind), "allow": True}
          for kind in kinds.commanded_names),
        {"acltype": "subscribePattern", "topic": own, "allow": True},
        {"acltype": "publishClientSend", "topic": own, "allow": True},
        {"acltype": "publishClientReceive", "topic": own, "allow": True},
        {"acltype": "subscribeLiteral", "topic": SYS_DROPPED_TOPIC, "allow": True},
        {"acltype": "publishClientReceive", "topic": SYS_DROPPED_TOPIC, "allow": True},
    ]


def registry_acls(site: str) -> list[dict[str, Any]]:
    """The hub CLI's registry publisher (``devices add/remove``) writes registry entries, nothing else."""
    return [{"acltype": "publishClientSend", "topic": registry_filter(site), "allow": True}]


def supervisor_acls(site: str) -> list[dict[str, Any]]:
    """make run's launcher announces restarts of its children, and may do nothing else."""
    return [{"acltype": "publishClientSend", "topic": supervisor_filter(site), "allow": True}]


# -- identities: one account per connection, each bound to one client id ------------------------------
# The defaults give the ids FloorOps has always used (``floorops-edge-edge-1``, ``floorops-hub-demo-priority``),
# so an upgraded install keeps its persistent sessions and what they hold.

HUB_SESSIONS = ("priority", "stream")


def edge_client_id(agent_id: str) -> str:
    return f"floorops-edge-{agent_id}"


def hub_session_username(hub_username: str, session: str) -> str:
    """The hub's own account is its priority session's; the stream session has ``<account>-stream``."""
    return hub_username if session == "priority" else f"{hub_username}-{session}"


def hub_client_id(hub_username: str, site: str, session: str) -> str:
    return f"{hub_username}-{site}-{session}"


def registry_username(hub_username: str) -> str:
    return f"{hub_username}-registry"


def supervisor_client_id(username: str, site: str) -> str:
    return f"{username}-{site}"


@dataclass(frozen=True)
class ServiceAccount:
    username: str
    password: str
    client_id: str
    acls: list[dict[str, Any]]


def service_accounts(cfg: Any, site: str, supervisor: bool = True) -> list[ServiceAccount]:
    """Every broker account of FloorOps' own components for ``cfg`` (a floorops.config.Config): the edge,
    the hub's two sessions, the hub CLI's registry publisher and (make run) the launcher's notices. The
    hub's accounts share the hub's password: they are one component's, on one machine."""
    hub_user, hub_pw = cfg.hub.mqtt_username, cfg.hub.mqtt_password
    kinds = from_plugins(cfg.site.kind_plugins)  # the hub writes the command topics of every commanded kind
    out = [ServiceAccount(cfg.edge.mqtt_username, cfg.edge.mqtt_password, edge_client_id(cfg.edge.agent_id),
                          edge_acls(site))]
    out += [ServiceAccount(hub_session_username(hub_user, s), hub_pw, hub_client_id(hub_user, site, s),
                           hub_acls(site, kinds))
            for s in HUB_SESSIONS]
    out.append(ServiceAccount(registry_username(hub_user), hub_pw, hub_client_id(hub_user, site, "registry"),
                              registry_acls(site)))
    if supervisor:
        sup = cfg.supervisor.mqtt_username
        out.append(ServiceAccount(sup, cfg.supervisor.mqtt_password, supervisor_client_id(sup, site),
                                  supervisor_acls(site)))
    return out


class DynsecClient:
    """A small synchronous client for dynsec commands (used by CLIs and the launcher)."""

    def __init__(self, host: str, port: int, username: str, password: str, timeout_s: float = 10.0,
                 cafile: str = "") -> None:
        self._timeout = timeout_s
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dynsec-{uuid.uuid4().hex[:8]}")
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
        """Send one command and wait for its response; the broker's error is raised as ``NotFound``,
        ``AlreadyExists`` or else ``DynsecError`` (``command_error``)."""
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
            raise command_error(command, str(response["error"]))
        return response

    def ensure_role(self, rolename: str, acls: list[dict[str, Any]]) -> None:
        """Create the role, or reset its ACLs to exactly ``acls``."""
        try:
            self.command("createRole", rolename=rolename, acls=acls)
            return
        except AlreadyExists:
            pass
        current = self.command("getRole", rolename=rolename).get("data", {}).get("role", {}).get("acls", [])
        for acl in current:
            self.command("removeRoleACL", rolename=rolename, acltype=acl["acltype"], topic=acl["topic"])
        for acl in acls:
            self.command("addRoleACL", rolename=rolename, **acl)

    def ensure_client(self, username: str, password: str, rolename: str, client_id: str) -> None:
        """Create the client with that password, role and client id, or reset all three if it exists."""
        try:
            self.command("createClient", username=username, password=password, clientid=client_id,
                         roles=[{"rolename": rolename}])
            return
        except AlreadyExists:
            pass
        self.command("setClientPassword", username=username, password=password)
        # Mosquitto 2.0.11 answers "Internal error" to adding a role the client already has: ask first.
        client = self.command("getClient", username=username).get("data", {}).get("client", {})
        if rolename not in {r.get("rolename") for r in client.get("roles", [])}:
            self.command("addClientRole", username=username, rolename=rolename)
        self.bind_client_id(username, client_id, current=client.get("clientid"))

    def bind_client_id(self, username: str, client_id: str, current: str | None = None) -> bool:
        """Bind an existing account to ``client_id`` (an install from before binding); True if changed.
        Only when it differs: the broker disconnects the account's connection when its id is set."""
        if current == client_id:
            return False
        self.command("setClientId", username=username, clientid=client_id)
        log.info("broker account bound to its client id", extra={"username": username, "client_id": client_id})
        return True

    def harden(self, accounts: list[ServiceAccount]) -> list[str]:
        """Bring a broker's accounts (new, or from an older FloorOps) to today's rules, on every start:
        receiving denied by default, the service accounts in place with their ids, every device account
        (role ``device-<username>``) bound to its device id. Returns the usernames of accounts left
        unbound (none FloorOps made, bar the admin), which are logged as a warning."""
        self.command("setDefaultACLAccess", acls=DEFAULT_ACL_ACCESS)
        for a in accounts:
            self.provision_service(a.username, a.password, a.acls, client_id=a.client_id)
        known = {a.username for a in accounts}
        unbound: list[str] = []
        for c in self.command("listClients", verbose=True, count=-1).get("data", {}).get("clients", []):
            username = c.get("username", "")
            roles = {r.get("rolename") for r in c.get("roles", [])}
            if device_role(username) in roles:
                self.bind_client_id(username, username, current=c.get("clientid"))
            elif username not in known and not c.get("clientid") and "admin" not in roles:
                unbound.append(username)
        if unbound:
            log.warning("broker accounts not bound to a client id (not made by FloorOps)",
                        extra={"usernames": unbound})
        return unbound

    def delete_client(self, username: str) -> None:
        self.command("deleteClient", username=username)

    def delete_role(self, rolename: str) -> None:
        """Delete a role (a removed device's ``device-<id>``); raises ``NotFound`` if there is none.

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

    def provision_device(self, site: str, kind: str, device_id: str, kinds: KindRegistry = BUILTIN) -> Credentials:
        """A fresh password and an own-topic-only role for one device (run again to rotate it); the account
        connects only with the device id as its client id."""
        username = device_id
        password = new_password()
        role = device_role(device_id)
        self.ensure_role(role, device_acls(site, kind, device_id, kinds))
        self.ensure_client(username, password, role, client_id=device_id)
        return Credentials(username, password)

    def refresh_device_role(self, site: str, kind: str, device_id: str, kinds: KindRegistry = BUILTIN) -> None:
        """Give an existing device account today's ACLs (``device_acls``): a broker set up by an older
        FloorOps keeps its accounts and passwords, but, say, its queue screens could not read their command
        topic, so every command went unacknowledged."""
        self.ensure_role(device_role(device_id), device_acls(site, kind, device_id, kinds))

    def provision_service(self, username: str, password: str, acls: list[dict[str, Any]],
                          client_id: str | None = None) -> Credentials:
        """A service account with its own role, bound to ``client_id`` (default: the username)."""
        self.ensure_role(f"svc-{username}", acls)
        self.ensure_client(username, password, f"svc-{username}", client_id=client_id or username)
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
