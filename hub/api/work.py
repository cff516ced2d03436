"""Alarms, maintenance tickets and staff dispatches: lists and the actions people take on them."""

from __future__ import annotations

from typing import Callable

from aiohttp import web

from hub.alarms import STATES as ALARM_STATES, AlarmActionError
from hub.api import ANY_OBJ, BOOL, INT, NSTR, STR, TIME, ApiError, Handler, Route, arr, body_json, enum, int_id, obj, ok, query_choice
from hub.auth import User
from hub.context import ctx
from hub.core import Hub
from hub.dispatch import DispatchActionError, NotYours
from hub.tickets import RESOLUTION_CODES, TicketActionError

ALARM = obj(id=INT, type=STR, severity={"type": "string", "enum": ["critical", "major", "minor", "warning"]},
            source=STR, zone=STR, device_id=STR, state={"type": "string", "enum": list(ALARM_STATES)},
            raised_at=TIME, acked_at=TIME, acked_by=NSTR, cleared_at=TIME, count=INT, flapping=BOOL, escalated=BOOL,
            assignee=NSTR, silenced=BOOL)
TICKET_STATES = ("open", "accepted", "resolved")
TICKET = obj(id=INT, alarm_id=INT, device_id=STR, fault=STR, severity=STR,
             state={"type": "string", "enum": list(TICKET_STATES)}, assignee=NSTR, opened_at=TIME,
             respond_due_at=TIME, due_at=TIME, accepted_at=TIME, resolved_at=TIME, resolution=NSTR, sla_breached=BOOL)
DISPATCH_STATES = ("offered", "accepted", "arrived", "declined", "completed", "expired", "withdrawn")
DISPATCH = obj(id=INT, request_id=INT, zone=STR, reason=STR, state={"type": "string", "enum": list(DISPATCH_STATES)},
               assignee=STR, created_at=TIME, expires_at=TIME, answered_at=TIME, arrived_at=TIME, completed_at=TIME,
               priority=INT, service_request={"type": ["integer", "null"]})


def _act(request: web.Request, action: Callable[[], dict], target: str, what: str) -> web.Response:
    """Run an action in one transaction with its audit entry; map domain errors to 404/403/409."""
    hub = ctx(request).hub
    try:
        with hub.unit_of_work():
            result = action()
            hub.audit(request["user"].username, what, target)
    except KeyError:
        raise ApiError(404, f"no such {target.split(':')[0]}: {target.split(':')[-1]}") from None
    except NotYours as exc:
        raise ApiError(403, str(exc)) from None
    except (AlarmActionError, TicketActionError, DispatchActionError) as exc:
        raise ApiError(409, str(exc)) from None
    return ok(result)


async def alarms(request: web.Request) -> web.Response:
    state = query_choice(request, "state", ALARM_STATES)
    return ok(ctx(request).hub.alarms.list(state))


def _action(thing: str, verb: str, call: Callable[[Hub, int, User], dict]) -> Handler:
    """The handler of ``POST /api/<thing>s/{id}/<verb>``: ``call(hub, id, user)`` audited as ``<thing>.<verb>``."""
    async def handler(request: web.Request) -> web.Response:
        i, user = int_id(request), request["user"]
        return _act(request, lambda: call(ctx(request).hub, i, user), f"{thing}:{i}", f"{thing}.{verb}")
    handler.__name__ = f"{thing}_{verb}"
    return handler


COMMENT_MAX = 2000


def comment_of(data: dict, required: bool) -> str:
    """The ``comment`` (or ``body``) of a request: a string of 1..2000 characters, or empty when optional."""
    text = data.get("comment", data.get("body", ""))
    if not isinstance(text, str) or len(text) > COMMENT_MAX or (required and not text.strip()):
        raise ApiError(400, f"comment must be a string of {'1' if required else '0'}..{COMMENT_MAX} characters")
    return text.strip()


async def alarm_ack(request: web.Request) -> web.Response:
    """Acknowledge, with an optional ``{"comment": ...}`` added to the alarm's thread (a bearer-token ack
    without a body still works)."""
    i, user = int_id(request), request["user"]
    comment = comment_of(await body_json(request), False) if request.body_exists else ""
    return _act(request, lambda: ctx(request).hub.alarms.acknowledge(i, user.username, comment), f"alarm:{i}",
                "alarm.ack")
alarm_clear = _action("alarm", "clear", lambda hub, i, user: hub.alarms.clear_by_hand(i, user.username))
ticket_accept = _action("ticket", "accept", lambda hub, i, user: hub.tickets.accept(i, user.username))


async def alarm_history(request: web.Request) -> web.Response:
    hub, i = ctx(request).hub, int_id(request)
    if hub.alarms.get(i) is None:
        raise ApiError(404, f"no such alarm: {i}")
    return ok(hub.alarms.history(i))


async def tickets(request: web.Request) -> web.Response:
    state = query_choice(request, "state", TICKET_STATES)
    return ok(ctx(request).hub.tickets.list(state))


async def ticket_resolve(request: web.Request) -> web.Response:
    i, user = int_id(request), request["user"].username
    data = await body_json(request)
    code = data.get("code")
    if code not in RESOLUTION_CODES:
        raise ApiError(400, f"code must be one of {', '.join(RESOLUTION_CODES)}")
    return _act(request, lambda: ctx(request).hub.tickets.resolve(i, user, code), f"ticket:{i}", "ticket.resolve")


async def dispatches(request: web.Request) -> web.Response:
    state = query_choice(request, "state", DISPATCH_STATES)
    user = request["user"]
    query_choice(request, "all", ("0", "1"))
    mine = user.username if user.role in ("floor_manager", "liaison") and query_choice(request, "all", ("0", "1")) != "1" else None
    return ok(ctx(request).hub.dispatch.list(state, username=mine))


def _dispatch_step(name: str) -> Callable[[Hub, int, User], dict]:
    """``hub.dispatch.<name>(id, username, role)``: one of a dispatch's steps, taken by the signed-in user."""
    def step(hub: Hub, i: int, user: User) -> dict:
        return getattr(hub.dispatch, name)(i, user.username, user.role)
    return step


RESOLVE_BODY = {"type": "object", "required": ["code"], "properties": {"code": {"type": "string", "enum": list(RESOLUTION_CODES)}}}
ROUTES = [
    Route("GET", "/api/alarms", alarms, "read", "Alarms, newest first (?state=active|acknowledged|cleared)", arr(ALARM),
          query={"state": enum(*ALARM_STATES, "")}, tag="alarms"),
    Route("POST", "/api/alarms/{id}/ack", alarm_ack, "alarms.ack",
          "Acknowledge an alarm (stops its escalation), optionally with {comment}", ALARM,
          body={"type": "object", "properties": {"comment": {"type": "string", "maxLength": COMMENT_MAX}}},
          tag="alarms"),
    Route("POST", "/api/alarms/{id}/clear", alarm_clear, "alarms.act", "Clear an alarm by hand", ALARM, tag="alarms"),
    Route("GET", "/api/alarms/{id}/history", alarm_history, "read", "Every step of an alarm", arr(ANY_OBJ), tag="alarms"),
    Route("GET", "/api/tickets", tickets, "read", "Maintenance tickets (?state=open|accepted|resolved)", arr(TICKET),
          query={"state": enum(*TICKET_STATES, "")}, tag="tickets"),
    Route("POST", "/api/tickets/{id}/accept", ticket_accept, "tickets.act", "Accept a ticket", TICKET, tag="tickets"),
    Route("POST", "/api/tickets/{id}/resolve", ticket_resolve, "tickets.act", "Resolve a ticket with a resolution code",
          TICKET, body=RESOLVE_BODY, tag="tickets"),
    Route("GET", "/api/dispatches", dispatches, "read",
          "Dispatches (a floor manager sees their own unless ?all=1)", arr(DISPATCH),
          query={"state": enum(*DISPATCH_STATES, ""), "all": enum("0", "1", "")}, tag="dispatch"),
] + [
    Route("POST", f"/api/dispatches/{{id}}/{name}", _action("dispatch", name, _dispatch_step(name)),
          "dispatches.act", f"{name.capitalize()} a dispatch offered to you", DISPATCH, tag="dispatch")
    for name in ("accept", "decline", "arrive", "complete")
]
