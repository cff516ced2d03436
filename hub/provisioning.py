"""Registering devices and people: what ``python -m hub devices add`` / ``users add`` and the launcher call.

A device gets its own broker account with an own-topics-only ACL (floorops.dynsec, applied by the
running broker at once), a row in the hub database, and a retained registry message
``floorops/<site>/registry/<id>`` from which the edge and a running hub learn its zone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt

from floorops.config import Config
from floorops.contract import ID_RE
from floorops.topics import device_topic_prefix
from floorops.dynsec import Credentials, DynsecClient, NotFound, device_role, hub_client_id, registry_username
from floorops.mqtt_client import configure, endpoint
from floorops.site import Device, Site, site_of
from floorops.topics import registry_topic
from floorops.varperms import write_private
from hub.auth import ROLES, UserStore
from hub.db import Database
from hub.roster import Roster, RosterStore, load_roster

log = logging.getLogger("hub.provisioning")

DEMO_STAFF = (("admin", "admin"), ("monitor", "monitor"), ("maintenance", "maintenance"), ("desk", "service_desk"))


class ProvisioningError(ValueError):
    """The device or user cannot be registered as asked (the message says why)."""


class NoSuchDevice(ProvisioningError):
    """The device to remove is neither in the hub database nor in the site's inventory."""


def check_device(site: Site, device_id: str, kind: str, zone: str) -> None:
    if not ID_RE.match(device_id) or device_id.startswith("floorops-"):
        raise ProvisioningError(f"device id {device_id!r} must be [A-Za-z0-9_-]{{1,64}} and not start with 'floorops-'")
    if kind not in site.kinds:
        raise ProvisioningError(f"kind {kind!r} is not one of {', '.join(site.kinds.names)}")
    if zone not in {z.id for z in site.zones}:
        raise ProvisioningError(f"zone {zone!r} is not a zone of site {site.id} ({', '.join(z.id for z in site.zones)})")


def store_device(db: Database, device_id: str, kind: str, zone: str, queue: str = "", mqtt_username: str = "",
                 now: float | None = None) -> None:
    """Insert or move a device (kind and zone may change; live state is kept; a removed one is back)."""
    db.execute(
        "INSERT INTO devices(id, kind, zone, queue, mqtt_username, created_at) VALUES (?,?,?,?,?,?) "
        "ON CONFLICT(id) DO UPDATE SET kind=excluded.kind, zone=excluded.zone, removed_at=NULL, "
        "queue=CASE WHEN excluded.queue != '' THEN excluded.queue ELSE devices.queue END, "
        "mqtt_username=CASE WHEN excluded.mqtt_username != '' THEN excluded.mqtt_username ELSE devices.mqtt_username END",
        (device_id, kind, zone, queue, mqtt_username, time.time() if now is None else now),
    )


def publish_registry(cfg: Config, site_id: str, device_id: str, kind: str, zone: str, timeout_s: float = 10.0) -> None:
    """The retained registry message, published as the hub CLI's registry account, QoS 1, waited for."""
    _publish_registry(cfg, site_id, device_id, json.dumps({"id": device_id, "kind": kind, "zone": zone}).encode(),
                      timeout_s)


def _publish_registry(cfg: Config, site_id: str, device_id: str, payload: bytes, timeout_s: float) -> None:
    """``payload`` retained on the device's registry topic (empty: the device is removed)."""
    # The registry publisher's own account, bound to its one client id (floorops.dynsec): two CLIs at the
    # same moment would take turns, the second one's publish waiting for the first one to be done.
    hub_user = cfg.hub.mqtt_username
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=hub_client_id(hub_user, site_id, "registry"))
    ep = endpoint(cfg)
    configure(client, ep, registry_username(hub_user), cfg.hub.mqtt_password)
    try:
        client.connect(ep.host, ep.port, keepalive=30)
    except OSError as exc:
        raise ProvisioningError(f"broker at {ep.host}:{ep.port} unreachable: {exc}") from None
    client.loop_start()
    try:
        info = client.publish(registry_topic(site_id, device_id), payload, qos=1, retain=True)
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
    A running hub's admin API does the same steps, the database's inside its own unit of work
    (hub/api/admin.py); this is for the CLI and the launcher, with a connection of their own.
    """
    site = site or site_of(cfg)
    check_device(site, device_id, kind, zone)
    creds = provision_credentials(cfg, site, kind, device_id, dynsec)
    db = Database(cfg.path(cfg.hub.db_path))
    try:
        with db.transaction():
            store_device(db, device_id, kind, zone, queue=inventory_queue(site, device_id),
                         mqtt_username=creds.username)
            _audit(db, actor, "device.add", f"device:{device_id}", {"kind": kind, "zone": zone})
    finally:
        db.close()
    publish_registry(cfg, site.id, device_id, kind, zone)
    log.info("device registered", extra={"device_id": device_id, "kind": kind, "zone": zone})
    return device_credentials(site, kind, device_id, creds)


def provision_credentials(cfg: Config, site: Site, kind: str, device_id: str,
                          dynsec: DynsecClient | None = None) -> Credentials:
    """The device's broker account and own-topics role (a fresh password each time)."""
    own = dynsec is None
    ds = dynsec or DynsecClient.for_config(cfg)
    try:
        return ds.provision_device(site.id, kind, device_id, site.kinds)
    finally:
        if own:
            ds.close()


def inventory_queue(site: Site, device_id: str) -> str:
    """The queue the site's inventory gives the device ("" for none, or a device not in the inventory)."""
    return next((d.queue for d in site.devices if d.id == device_id), "")


def device_credentials(site: Site, kind: str, device_id: str, creds: Credentials) -> dict[str, Any]:
    """What registering a device returns: its broker credentials and its topic prefix."""
    return {"id": device_id, "mqtt_username": creds.username, "mqtt_password": creds.password,
            "topic_prefix": device_topic_prefix(site.id, kind, device_id)}


def remove_device(cfg: Config, device_id: str, *, dynsec: DynsecClient | None = None, site: Site | None = None,
                  actor: str = "cli") -> dict[str, Any]:
    """Take a device out of service; returns ``{"id","removed_at","mqtt_username","credentials_file"}``.

    In this order, so that nothing the device still says reopens what its removal closed:
    1. the empty retained registry message: the edge forgets the device's zone, a running hub takes it off
       its live lists and closes its open alarms (a stopped hub's persistent session gets it at start);
    2. the broker account and its ``device-<id>`` role are deleted, so the device can no longer publish (its
       Last Will, if the broker sends it, reaches a hub that already refuses records of removed devices);
    3. the hub database marks the row removed (for a hub that has never been connected) and audits it;
    4. the device leaves the credentials file (``hub.credentials_file``, :func:`forget_credentials`), reported
       as ``credentials_file`` in the result; a missing or unreadable file does not undo 1-3.
    Its alarms, tickets, audit entries and InfluxDB readings stay. ``devices add`` brings it back. A running
    hub's admin API does the same steps, the database's inside its own unit of work (hub/api/admin.py); this
    is for the CLI, with a connection of its own."""
    site = site or site_of(cfg)
    db = Database(cfg.path(cfg.hub.db_path))
    try:
        target = removal_target(db, site, device_id)
        revoke_device(cfg, site.id, target, dynsec)
        now = time.time()
        with db.transaction():
            removed_at = mark_removed(db, target, now)
            _audit(db, actor, "device.remove", f"device:{device_id}", {"mqtt_username": target.username})
    finally:
        db.close()
    credentials = forget_credentials(cfg.path(cfg.hub.credentials_file), device_id)
    log.info("device removed", extra={"device_id": device_id, "credentials_file": credentials})
    return removal_result(target, removed_at, credentials)


@dataclass(frozen=True)
class RemovalTarget:
    """A device to remove, as the hub database and the site's inventory know it."""

    id: str
    username: str  # its broker account
    inventory: Device | None  # its entry in the site's inventory, if any
    stored: bool  # it has a row in the hub database


def removal_target(db: Database, site: Site, device_id: str) -> RemovalTarget:
    """The device to remove; ``NoSuchDevice`` if neither the database nor the inventory knows it."""
    if not ID_RE.match(device_id):
        raise ProvisioningError(f"device id {device_id!r} must be [A-Za-z0-9_-]{{1,64}}")
    row = db.one("SELECT mqtt_username FROM devices WHERE id=?", (device_id,))
    inventory = next((d for d in site.devices if d.id == device_id), None)
    if row is None and inventory is None:
        raise NoSuchDevice(f"no such device: {device_id}")
    return RemovalTarget(device_id, (row["mqtt_username"] if row is not None else "") or device_id, inventory,
                         row is not None)


def revoke_device(cfg: Config, site_id: str, target: RemovalTarget, dynsec: DynsecClient | None = None) -> None:
    """Steps 1 and 2 of :func:`remove_device`: the empty registry message, then the broker account and its
    role (either already gone is no error: a removal run again finishes what a failed one began)."""
    _publish_registry(cfg, site_id, target.id, b"", 10.0)
    own = dynsec is None
    ds = dynsec or DynsecClient.for_config(cfg)
    try:
        # The account first (the device can no longer log in), then its own-topics role.
        for delete, name in ((ds.delete_client, target.username), (ds.delete_role, device_role(target.id))):
            with contextlib.suppress(NotFound):
                delete(name)
    finally:
        if own:
            ds.close()


def mark_removed(db: Database, target: RemovalTarget, now: float) -> float:
    """Step 3 (in the caller's transaction): the row marked removed at ``now``, unless it already was;
    returns its ``removed_at``."""
    if not target.stored and target.inventory is not None:
        inv = target.inventory
        store_device(db, target.id, inv.kind, inv.zone, queue=inv.queue, now=now)
    db.execute("UPDATE devices SET removed_at=COALESCE(removed_at, ?) WHERE id=?", (now, target.id))
    removed = db.one("SELECT removed_at FROM devices WHERE id=?", (target.id,))
    assert removed is not None  # stored just above, in the same transaction
    return float(removed["removed_at"])


def removal_result(target: RemovalTarget, removed_at: float, credentials: CredentialsOutcome) -> dict[str, Any]:
    return {"id": target.id, "removed_at": removed_at, "mqtt_username": target.username,
            "credentials_file": credentials}


CredentialsOutcome = Literal["removed", "not_listed", "no_file", "unreadable", "unwritable"]


def forget_credentials(path: Path, device_id: str) -> CredentialsOutcome:
    """Drop ``device_id`` from the device credentials file (``{device_id: {...}}``, mode 600, written by the
    launcher's provisioning and read by the simulator), so that it no longer lists a device whose broker
    account is gone.

    Atomic: the new content goes to a private temporary file in the same folder, then replaces the old one,
    so a crash leaves the old file or the new one, never half of one. The outcome is returned (and logged);
    a file that is not a JSON object, or cannot be read or written, is an error logged with its reason and
    left as it was, never an exception: the device is out of service either way."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return "no_file"
    except (OSError, UnicodeDecodeError) as exc:
        log.error("device credentials file unreadable; the removed device is still listed there",
                  extra={"file": str(path), "device_id": device_id, "error": str(exc)})
        return "unreadable"
    try:
        creds = json.loads(text)
    except ValueError as exc:
        creds, reason = None, f"not JSON: {exc}"
    else:
        reason = f"expected a JSON object of devices, found {type(creds).__name__}"
    if not isinstance(creds, dict):
        log.error("device credentials file unreadable; the removed device is still listed there",
                  extra={"file": str(path), "device_id": device_id, "error": reason})
        return "unreadable"
    if device_id not in creds:
        return "not_listed"
    del creds[device_id]
    try:
        write_private(path, json.dumps(creds, indent=2))
    except OSError as exc:
        log.error("device credentials file could not be rewritten; the removed device is still listed there",
                  extra={"file": str(path), "device_id": device_id, "error": str(exc)})
        return "unwritable"
    return "removed"


def removed_device_ids(cfg: Config) -> set[str]:
    """Ids of the devices taken out of service (``devices remove``), which provisioning the site's
    inventory again (the launcher, at every ``make run``) must not bring back. None without a database."""
    path = cfg.path(cfg.hub.db_path)
    if not path.exists():
        return set()
    db = Database(path)
    try:
        return {r["id"] for r in db.all("SELECT id FROM devices WHERE removed_at IS NOT NULL")}
    finally:
        db.close()


def ensure_user(cfg: Config, username: str, role: str, password: str, actor: str = "cli") -> None:
    """Create the user, or reset their role and password."""
    if role not in ROLES:
        raise ProvisioningError(f"role must be one of {', '.join(ROLES)}")
    db = Database(cfg.path(cfg.hub.db_path))
    try:
        store = RosterStore(db)  # the people in the database (seeded from the roster file on the first start)
        with db.transaction():
            store.seed(load_roster(cfg.hub.roster_file), time.time())
        person = Roster(store.people()).by_username(username)
        UserStore(db).upsert(username, role, password, person=person.id if person else "", now=time.time())
        with db.transaction():
            _audit(db, actor, "user.upsert", f"user:{username}", {"role": role})
    finally:
        db.close()


def demo_accounts(cfg: Config) -> list[tuple[str, str]]:
    """(username, role) of the demo users: admin, monitor, maintenance, the service desk and the roster's people
    with a login (liaison-lab: a liaison)."""
    accounts = dict(DEMO_STAFF)
    for p in load_roster(cfg.hub.roster_file).people:
        if p.username and p.username not in accounts and p.role in ROLES:
            accounts[p.username] = p.role
    return list(accounts.items())
