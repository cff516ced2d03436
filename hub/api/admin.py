"""Administration: users, device registration, rules, audit log."""

from __future__ import annotations

import asyncio
import logging
from typing import get_args

from aiohttp import web

from hub import provisioning
from hub.api import ANY_OBJ, INT, NUM, STR, ApiError, Route, arr, body_json, enum, obj, ok
from hub.api.session import login_guards
from hub.auth import ROLES, AuthError, LoginBusy
from hub.context import ctx
from hub.clock import iso
from hub.rules.config import RulesError, rules_schema
from floorops.dynsec import DynsecError

log = logging.getLogger("hub.api.admin")

USER = obj(username=STR, role={"type": "string", "enum": list(ROLES)}, person=STR)


async def users(request: web.Request) -> web.Response:
    return ok([{"username": u.username, "role": u.role, "person": u.person} for u in ctx(request).users.list()])


async def _strings(request: web.Request, *names: str) -> list[str]:
    """The body's fields ``names``, each a required string (400 naming them otherwise)."""
    data = await body_json(request)
    values = [data.get(n) for n in names]
    if not all(isinstance(v, str) for v in values):
        raise ApiError(400, f"{', '.join(names[:-1])} and {names[-1]} are required strings")
    return values  # type: ignore[return-value]  # - each checked to be a str just above


async def add_user(request: web.Request) -> web.Response:
    c = ctx(request)
    username, role, password = await _strings(request, "username", "role", "password")
    person = c.hub.roster.by_username(username)
    try:
        c.users.check(username, role, password)
    except AuthError as exc:
        raise ApiError(400, str(exc)) from None
    try:
        hashed = await login_guards(c)[1].hash(password)  # argon2 off the loop, in the login pool
    except LoginBusy:
        raise ApiError(503, "the hub is busy hashing passwords; try again in a few seconds") from None
    c.users.upsert(username, role, password, person=person.id if person else "", now=c.hub.clock.now(),
                   password_hash=hashed)
    with c.hub.unit_of_work():
        c.hub.audit(request["user"].username, "user.upsert", f"user:{username}", {"role": role})
    return ok({"username": username, "role": role, "person": person.id if person else ""}, status=201)


async def add_device(request: web.Request) -> web.Response:
    """What ``python -m hub devices add`` does (hub.provisioning.add_device), with the database's part in the
    hub's own unit of work: the row, its audit entry and the live state commit together, on the hub's
    connection and clock, and the console's event goes out after the commit."""
    c = ctx(request)
    device_id, kind, zone = await _strings(request, "id", "kind", "zone")
    site, actor, loop = c.hub.site, request["user"].username, asyncio.get_running_loop()
    try:
        provisioning.check_device(site, device_id, kind, zone)
        creds = await loop.run_in_executor(None, provisioning.provision_credentials, c.cfg, site, kind, device_id)
    except provisioning.ProvisioningError as exc:
        raise ApiError(400, str(exc)) from None
    except (DynsecError, OSError) as exc:
        raise ApiError(503, f"the broker could not register the device: {exc}") from None
    with c.hub.unit_of_work():
        provisioning.store_device(c.hub.db, device_id, kind, zone, queue=provisioning.inventory_queue(site, device_id),
                                  mqtt_username=creds.username, now=c.hub.clock.now())
        c.hub.audit(actor, "device.add", f"device:{device_id}", {"kind": kind, "zone": zone})
        c.hub.register_device(device_id, kind, zone)
    try:
        await loop.run_in_executor(None, provisioning.publish_registry, c.cfg, site.id, device_id, kind, zone)
    except provisioning.ProvisioningError as exc:
        raise ApiError(503, f"the device is registered, but the edge could not be told its zone: {exc}") from None
    log.info("device registered", extra={"device_id": device_id, "kind": kind, "zone": zone, "actor": actor})
    return ok(provisioning.device_credentials(site, kind, device_id, creds), status=201)


async def remove_device(request: web.Request) -> web.Response:
    """What ``python -m hub devices remove`` does (hub.provisioning.remove_device), with the database's part in
    the hub's own unit of work: the row marked removed, its audit entry and the live state (its alarms closed,
    ``device.removed``) commit together, on the hub's connection and clock. The registry's empty message
    reaches this hub again through the broker and changes nothing more."""
    c = ctx(request)
    device_id = request.match_info["id"]
    if device_id in c.hub.state.removed:
        raise ApiError(409, f"{device_id} is already removed")
    if device_id not in c.hub.state.devices:
        raise ApiError(404, f"no such device: {device_id}")
    site, actor, loop = c.hub.site, request["user"].username, asyncio.get_running_loop()
    try:
        target = provisioning.removal_target(c.hub.db, site, device_id)
        await loop.run_in_executor(None, provisioning.revoke_device, c.cfg, site.id, target)
    except provisioning.NoSuchDevice as exc:
        raise ApiError(404, str(exc)) from None
    except provisioning.ProvisioningError as exc:
        raise ApiError(503, f"the device could not be removed: {exc}") from None
    except (DynsecError, OSError) as exc:
        raise ApiError(503, f"the broker could not remove the device: {exc}") from None
    with c.hub.unit_of_work():
        removed_at = provisioning.mark_removed(c.hub.db, target, c.hub.clock.now())
        c.hub.audit(actor, "device.remove", f"device:{device_id}", {"mqtt_username": target.username})
        c.hub.remove_device(device_id)
    credentials = await loop.run_in_executor(None, provisioning.forget_credentials,
                                             c.cfg.path(c.cfg.hub.credentials_file), device_id)
    log.info("device removed", extra={"device_id": device_id, "credentials_file": credentials, "actor": actor})
    return ok(provisioning.removal_result(target, removed_at, credentials))


async def get_rules(request: web.Request) -> web.Response:
    return ok(ctx(request).hub.rules.settings)


async def put_rules(request: web.Request) -> web.Response:
    c = ctx(request)
    data = await body_json(request)
    try:
        return ok(c.hub.set_rules(data, request["user"].username))
    except RulesError as exc:
        raise ApiError(400, str(exc)) from None


async def audit(request: web.Request) -> web.Response:
    hub = ctx(request).hub
    rows = hub.db.all("SELECT * FROM audit ORDER BY id DESC LIMIT 1000")
    return ok([{"id": r["id"], "at": iso(r["at"], hub.tz), "actor": r["actor"], "action": r["action"],
                "target": r["target"]} for r in rows])


ROUTES = [
    Route("GET", "/api/users", users, "users.read", "Users and roles", arr(USER), tag="admin"),
    Route("POST", "/api/users", add_user, "users.write", "Create a user or reset their role and password", USER,
          body={"type": "object", "required": ["username", "role", "password"],
                "properties": {"username": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
                               "role": {"type": "string", "enum": list(ROLES)},
                               "password": {"type": "string", "minLength": 8, "maxLength": 256}}},
          tag="admin"),
    Route("POST", "/api/devices", add_device, "devices.write",
          "Register a device: broker account and ACL; the password is shown once",
          obj(id=STR, mqtt_username=STR, mqtt_password=STR, topic_prefix=STR),
          body={"type": "object", "required": ["id", "kind", "zone"],
                "properties": {"id": STR, "kind": {"type": "string", "description": "one of GET /api/site device_kinds"},
                               "zone": STR}}, tag="devices"),
    Route("DELETE", "/api/devices/{id}", remove_device, "devices.write",
          "Take a device out of service (as `python -m hub devices remove`): registry entry emptied, broker "
          "account and role deleted, open alarms closed and their tickets resolved, dropped from the device "
          "credentials file (`credentials_file`: what happened there); its history stays",
          obj(id=STR, removed_at=NUM, mqtt_username=STR,
              credentials_file=enum(*get_args(provisioning.CredentialsOutcome))), tag="devices"),
    Route("GET", "/api/rules", get_rules, "read", "Rule settings in force (hub/rules.toml, or as edited)", ANY_OBJ, tag="admin"),
    Route("PUT", "/api/rules", put_rules, "rules.write", "Replace the rule settings (validated; unset keys keep defaults)",
          ANY_OBJ, body=rules_schema(), tag="admin"),
    Route("GET", "/api/audit", audit, "audit.read", "Every state-changing action, newest first",
          arr(obj(id=INT, at=STR, actor=STR, action=STR, target=STR)), tag="admin"),
]
