"""Registering devices and people: what ``python -m hub devices add`` / ``users add`` and the launcher call.

A device gets its own broker account with an own-topics-only ACL (floorops.dynsec, applied by the
running broker at once), a row in the hub database, and a retained registry message
``floorops/<site>/registry/<id>`` from which the edge and a running hub learn its zone.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from floorops.config import Config
from floorops.contract import ID_RE, device_topic_prefix
from floorops.dynsec import DynsecClient
from floorops.site import DEVICE_KINDS, Site, load_site
from floorops.topics import registry_topic
from hub.auth import ROLES, UserStore
from hub.db import Database
from hub.roster import load_roster

log = logging.getLogger("hub.provisioning")

DEMO_STAFF = (("admin", "admin"), ("monitor", "monitor"), ("maintenance", "maintenance"))


class ProvisioningError(ValueError):
    """The device or user cannot be registered as asked (the message says why)."""


def check_device(site: Site, device_id: str, kind: str, zone: str) -> None:
    if not ID_RE.match(device_id) or device_id.startswith("floorops-"):
        raise ProvisioningError(f"device id {device_id!r} must be [A-Za-z0-9_-]{{1,64}} and not start with 'floorops-'")
    if kind not in DEVICE_KINDS:
        raise ProvisioningError(f"kind {kind!r} is not one of {', '.join(DEVICE_KINDS)}")
    if zone not in {z.id for z in site.zones}:
        raise ProvisioningError(f"zone {zone!r} is not a zone of site {site.id} ({', '.join(z.id for z in site.zones)})")


def store_device(db: Database, device_id: str, kind: str, zone: str, queue: str = "", mqtt_username: str = "",
                 now: float | None = None) -> None:
    """Insert or move a device (kind and zone may change; live state is kept)."""
    db.execute(
        "INSERT INTO devices(id, kind, zone, queue, mqtt_username, created_at) VALUES (?,?,?,?,?,?) "
        "ON CONFLICT(id) DO UPDATE SET kind=excluded.kind, zone=excluded.zone, "
        "queue=CASE WHEN excluded.queue != '' THEN excluded.queue ELSE devices.queue END, "
        "mqtt_username=CASE WHEN excluded.mqtt_username != '' THEN excluded.mqtt_username ELSE devices.mqtt_username END",
        (device_id, kind, zone, queue, mqtt_username, time.time() if now is None else now),
    )


def publish_registry(cfg: Config, site_id: str, device_id: str, kind: str, zone: str, timeout_s: float = 10.0) -> None:
    """The retained registry message, published as the hub's broker account, QoS 1, waited for."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"floorops-hub-cli-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(cfg.hub.mqtt_username, cfg.hub.mqtt_password)
    try:
        client.connect(cfg.mqtt.host, cfg.mqtt.port, keepalive=30)
    except OSError as exc:
        raise ProvisioningError(f"broker at {cfg.mqtt.host}:{cfg.mqtt.port} unreachable: {exc}") from None
    client.loop_start()
    try:
        info = client.publish(registry_topic(site_id, device_id),
                              json.dumps({"id": device_id, "kind": kind, "zone": zone}), qos=1, retain=True)
        info.wait_for_publish(timeout_s)
        if not info.is_published():
            raise ProvisioningError("the broker did not acknowledge the registry message (hub credentials?)")
    finally:
        client.disconnect()
        client.loop_stop()


def _audit(db: Database, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
    db.execute("INSERT INTO audit(at, actor, action, target, detail) VALUES (?,?,?,?,?)",
               (time.time(), actor, action, target, json.dumps(detail)))


def add_device(cfg: Config, device_id: str, kind: str, zone: str, *, dynsec: DynsecClient | None = None,
               site: Site | None = None, actor: str = "cli") -> dict[str, Any]:
    """Register one device; returns ``{"id","mqtt_username","mqtt_password","topic_prefix"}``.

    Run again to rotate the device's password. ``dynsec`` lets a caller reuse one admin connection.
    """
    site = site or load_site(cfg.site.file)
    check_device(site, device_id, kind, zone)
    own = dynsec is None
    ds = dynsec or DynsecClient(cfg.mqtt.host, cfg.mqtt.port, cfg.broker.admin_username, cfg.broker.admin_password)
    try:
        creds = ds.provision_device(site.id, kind, device_id)
    finally:
        if own:
            ds.close()
    queue = next((d.queue for d in site.devices if d.id == device_id), "")
    db = Database(cfg.path(cfg.hub.db_path))
    try:
        with db.transaction():
            store_device(db, device_id, kind, zone, queue=queue, mqtt_username=creds.username)
            _audit(db, actor, "device.add", f"device:{device_id}", {"kind": kind, "zone": zone})
    finally:
        db.close()
    publish_registry(cfg, site.id, device_id, kind, zone)
    log.info("device registered", extra={"device_id": device_id, "kind": kind, "zone": zone})
    return {"id": device_id, "mqtt_username": creds.username, "mqtt_password": creds.password,
            "topic_prefix": device_topic_prefix(site.id, kind, device_id)}


def ensure_user(cfg: Config, username: str, role: str, password: str, actor: str = "cli") -> None:
    """Create the user, or reset their role and password."""
    if role not in ROLES:
        raise ProvisioningError(f"role must be one of {', '.join(ROLES)}")
    roster = load_roster(cfg.hub.roster_file)
    person = roster.by_username(username)
    db = Database(cfg.path(cfg.hub.db_path))
    try:
        UserStore(db).upsert(username, role, password, person=person.id if person else "", now=time.time())
        with db.transaction():
            _audit(db, actor, "user.upsert", f"user:{username}", {"role": role})
    finally:
        db.close()


def demo_accounts(cfg: Config) -> list[tuple[str, str]]:
    """(username, role) of the demo users: admin, monitor, maintenance and the roster's people with a login."""
    accounts = dict(DEMO_STAFF)
    for p in load_roster(cfg.hub.roster_file).people:
        if p.username and p.username not in accounts and p.role in ROLES:
            accounts[p.username] = p.role
    return list(accounts.items())
