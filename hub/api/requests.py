"""Requests raised by people (hub.requests): raised and listed by staff in the console, complaints closed by
the desk, their targets edited by admins, and each zone's QR-page address."""

from __future__ import annotations

from typing import Any, Callable

from aiohttp import web

from hub.api import ANY_OBJ, BOOL, INT, NSTR, STR, TIME, ApiError, Route, arr, body_json, enum, int_id, obj, ok, query_choice
from hub.context import ctx
from hub.requests import (KINDS, MEASURES, NOTICE_STATES, STATES, TOPICS, RequestActionError, RequestError,
                          UnknownPerson)
from hub.roster import PERSON_ROLES

REQUEST = obj(id=INT, kind=enum(*KINDS), zone=STR, topic=STR, detail=STR, complex=BOOL, priority=INT, source=STR,
              raised_by=STR, has_phone=BOOL, state=enum(*STATES), raised_at=TIME, due_at=TIME, answered_at=TIME,
              closed_at=TIME, closed_by=NSTR, resolution=STR, escalated_to=STR, repeat_of={"type": ["integer", "null"]},
              ticket_id={"type": ["integer", "null"]}, overdue=BOOL, acked_by=NSTR, acked_at=TIME, ack_comment=STR,
              station=NSTR, station_zone=NSTR, no_stock=BOOL)
ZONE = {"type": "string", "x-enum-site-zones": True}  # hub.openapi lists the site's zones
COMPLAINT_NEEDS_TOPIC = {"if": {"properties": {"kind": {"const": "complaint"}}}, "then": {"required": ["topic"]}}
RAISE_BODY = {"type": "object", "required": ["kind", "zone"], "properties": {
    "kind": enum(*KINDS), "zone": ZONE, "topic": enum(*TOPICS), "detail": {"type": "string", "maxLength": 500},
    "complex": BOOL}, **COMPLAINT_NEEDS_TOPIC}
ACK_BODY = {"type": "object", "additionalProperties": False,
            "properties": {"comment": {"type": "string", "maxLength": 500}}}
CLOSE_BODY = {"type": "object", "required": ["resolution"],
              "properties": {"resolution": {"type": "string", "minLength": 1, "maxLength": 500, "pattern": r"\S"}}}
TILE = obj(open=INT, overdue=INT)
_COUNT = {"type": "integer", "minimum": 1, "maximum": 100_000}
_KIND_PROPERTIES: dict[str, Any] = {
    "target_min": _COUNT, "complex_target_min": _COUNT, "priority": _COUNT, "measure": enum(*MEASURES),
    "roles": arr(enum(*PERSON_ROLES)), "offer_timeout_s": _COUNT}
_ONLY = {"complex_target_min": "complaint", "offer_timeout_s": "emergency"}  # settings of one kind only
_KIND_SETTINGS = {"type": "object", "additionalProperties": False, "properties": _KIND_PROPERTIES}
SETTINGS_BODY = {"type": "object", "additionalProperties": False, "properties": {
    "kinds": {"type": "object", "additionalProperties": False,
              "properties": {k: {**_KIND_SETTINGS, "properties": {n: v for n, v in _KIND_PROPERTIES.items()
                                                                  if _ONLY.get(n, k) == k}}
                             for k in KINDS}},
    "night_shift": {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"},
    "escalate_to": {"type": "string", "maxLength": 100},  # a roster person's id ("": nobody)
    "repeat_window_days": {**_COUNT, "maximum": 10_000}, "phone_keep_days": {**_COUNT, "maximum": 10_000},
    "public_per_address_per_hour": {**_COUNT, "maximum": 10_000}}}


def _run(request: web.Request, action: Callable[[], dict[str, Any]], what: str, target: str,
         status: int = 200) -> web.Response:
    """One unit of work with its audit entry; domain errors as 400/404/409."""
    hub = ctx(request).hub
    try:
        with hub.unit_of_work():
            out = action()
            hub.audit(request["user"].username, what, target.format(**out) if "{" in target else target)
    except UnknownPerson as exc:
        raise ApiError(409, str(exc)) from None
    except RequestError as exc:
        raise ApiError(400, str(exc)) from None
    except KeyError:
        raise ApiError(404, f"no such request: {target.split(':')[-1]}") from None
    except RequestActionError as exc:
        raise ApiError(409, str(exc)) from None
    return ok(out, status)


async def list_requests(request: web.Request) -> web.Response:
    return ok(ctx(request).hub.requests.list(query_choice(request, "state", STATES)))


async def tiles(request: web.Request) -> web.Response:
    return ok(ctx(request).hub.requests.tiles())


async def raise_request(request: web.Request) -> web.Response:
    data = await body_json(request)
    user = request["user"]
    hub = ctx(request).hub
    complex_ = data.get("complex", False)
    if not isinstance(complex_, bool):
        raise ApiError(400, "complex must be true or false")
    for name in ("kind", "zone", "topic", "detail"):
        if not isinstance(data.get(name, ""), str):
            raise ApiError(400, f"{name} must be a string")
    return _run(request, lambda: hub.requests.raise_request(
        data.get("kind", ""), data.get("zone", ""), "console", user.username, data.get("topic", ""),
        data.get("detail", ""), complex_), "request.raise", "request:{id}", 201)


async def close(request: web.Request) -> web.Response:
    i = int_id(request)
    data = await body_json(request)
    hub = ctx(request).hub
    return _run(request, lambda: hub.requests.close(i, request["user"].username, data.get("resolution", "")),
                "request.close", f"request:{i}")


async def acknowledge(request: web.Request) -> web.Response:
    i = int_id(request)
    data = await body_json(request)
    user = request["user"]
    comment = data.get("comment", "")
    if not isinstance(comment, str):
        raise ApiError(400, "comment must be a string")
    hub = ctx(request).hub
    return _run(request, lambda: hub.requests.acknowledge(i, user.username, user.role, comment),
                "request.ack", f"request:{i}")


async def get_settings(request: web.Request) -> web.Response:
    return ok(ctx(request).hub.requests.settings)


async def put_settings(request: web.Request) -> web.Response:
    data = await body_json(request)
    return _run(request, lambda: ctx(request).hub.requests.set_settings(data), "requests.settings", "requests")


def public_url(request: web.Request, zone: str) -> str:
    return f"{request.scheme}://{request.host}/r/{zone}"


async def qr_links(request: web.Request) -> web.Response:
    """Each zone's patient page address (print it as a QR code: ``python -m hub qr ZONE``)."""
    hub = ctx(request).hub
    return ok([{"zone": z.id, "name": z.name, "name_zh": z.name_zh, "url": public_url(request, z.id)}
               for z in hub.site.zones])


async def notices(request: web.Request) -> web.Response:
    return ok(ctx(request).hub.requests.notices())


ROUTES = [
    Route("GET", "/api/requests", list_requests, "read",
          "Requests raised by people, most urgent then oldest first (?state=open|dispatched|closed)", arr(REQUEST),
          query={"state": enum(*STATES, "")}, tag="requests"),
    Route("GET", "/api/requests/tiles", tiles, "read", "Open and overdue requests per kind",
          {"type": "object", "additionalProperties": TILE}, tag="requests"),
    Route("POST", "/api/requests", raise_request, "requests.raise", "Raise a request for someone", REQUEST,
          body=RAISE_BODY, tag="requests"),
    Route("POST", "/api/requests/{id}/close", close, "requests.close",
          "Answer and close a complaint (the complainant is told)", REQUEST, body=CLOSE_BODY, tag="requests"),
    Route("POST", "/api/requests/{id}/ack", acknowledge, "requests.ack",
          "Acknowledge a page about a request: its escalation stops; your own open offer of it is accepted",
          REQUEST, body=ACK_BODY, tag="requests"),
    Route("GET", "/api/requests/settings", get_settings, "read", "Request targets and priorities", ANY_OBJ,
          tag="requests"),
    Route("PUT", "/api/requests/settings", put_settings, "rules.write", "Change request targets and priorities",
          ANY_OBJ, body=SETTINGS_BODY, tag="requests"),
    Route("GET", "/api/requests/qr", qr_links, "users.read", "Each zone's patient request page (QR) address",
          arr(obj(zone=STR, name=STR, name_zh=STR, url=STR)), tag="requests"),
    Route("GET", "/api/requests/notices", notices, "audit.read",
          "Closure notices and escalations (phone numbers redacted)",
          arr(obj(id=INT, request_id=INT, at=TIME, kind=STR, recipient=STR, text=STR, sent_at=TIME,
                  state=enum(*NOTICE_STATES), error=STR)), tag="requests"),
]
