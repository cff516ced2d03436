"""Satisfaction: the zones' daily scores from the terminals, and the corrective actions of the
satisfaction_low rule (hub.satisfaction), which floor managers acknowledge, annotate and close."""

from __future__ import annotations

import datetime as dt


from aiohttp import web

from hub.api import (ANY_OBJ, BOOL, DATE, INT, NNUM, NSTR, STR, TIME, ApiError, Handler, Route, arr, body_json, enum, int_id,
                     obj, ok)
from hub import views
from hub.context import ctx
from hub.satisfaction import ACTION_STATES, NOTE_MAX, RANGE_MAX_DAYS, ActionError

COUNTS = obj(very_satisfied=INT, satisfied=INT, neutral=INT, dissatisfied=INT, very_dissatisfied=INT)
ZONE_SCORE = obj(zone=STR, name=STR, name_zh=STR, score=NNUM, ratings=INT, counts=COUNTS)
ACTION = obj(id=INT, zone=STR, owner=STR, state=enum(*ACTION_STATES), opened_at=TIME, due_at=TIME, overdue=BOOL,
             streak=arr(obj(date=STR, score=NNUM)), followup_from=STR, followup_to=STR,
             followup=arr(obj(date=STR, score=NNUM)), verdict={"type": ["string", "null"],
                                                               "enum": ["improved", "not_improved", "no_data", None]},
             checked_at=TIME, acknowledged_at=TIME, acknowledged_by=NSTR, closed_at=TIME, closed_by=NSTR,
             alarm_id={"type": ["integer", "null"]}, notes=arr(obj(at=TIME, author=STR, body=STR)))
NOTE_BODY = {"type": "object", "properties": {"note": {"type": "string", "maxLength": NOTE_MAX}}}


def _date(request: web.Request, name: str) -> dt.date | None:
    value = request.query.get(name)
    try:
        return dt.date.fromisoformat(value) if value is not None else None
    except ValueError:
        raise ApiError(400, f"{name} must be YYYY-MM-DD") from None


def _zone(request: web.Request) -> str | None:
    zone = request.query.get("zone")  # given empty, it is no zone of the site either: 400, as documented
    if zone is not None and zone not in ctx(request).hub.state.zones:
        raise ApiError(400, f"zone must be a zone of the site, not {zone!r}")
    return zone


async def satisfaction(request: web.Request) -> web.Response:
    hub = ctx(request).hub
    day, first, last = _date(request, "date"), _date(request, "from"), _date(request, "to")
    if day is not None and (first is not None or last is not None):
        raise ApiError(400, "give date, or from and to, not both")
    zone = _zone(request)
    try:
        return ok(views.satisfaction_json(hub, day or first, day or last, zone))
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


async def actions(request: web.Request) -> web.Response:
    state = request.query.get("state") or None
    if state not in (None, "open"):
        raise ApiError(400, "state must be open (not closed) or left out")
    return ok(ctx(request).hub.satisfaction.actions(open_only=state == "open", zone=_zone(request)))


async def _note_of(request: web.Request, required: bool) -> str:
    data = await body_json(request) if request.body_exists else {}
    note = data.get("note", "")
    if not isinstance(note, str) or len(note) > NOTE_MAX or (required and not note.strip()):
        raise ApiError(400, f"note must be a string of {'1' if required else '0'}..{NOTE_MAX} characters")
    return note.strip()


def _step(verb: str, required: bool) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        hub, i, user = ctx(request).hub, int_id(request), request["user"]
        note = await _note_of(request, required)
        call = {"acknowledge": hub.satisfaction.acknowledge, "comment": hub.satisfaction.comment,
                "close": hub.satisfaction.close}[verb]
        try:
            with hub.unit_of_work():
                out = call(i, user.username, note)
                hub.audit(user.username, f"satisfaction_action.{verb}", f"satisfaction_action:{i}", {"note": note})
        except KeyError:
            raise ApiError(404, f"no such corrective action: {i}") from None
        except ActionError as exc:
            raise ApiError(409, str(exc)) from None
        return ok(out)
    handler.__name__ = f"satisfaction_action_{verb}"
    return handler


SCORES = obj(date=STR, target=NNUM, points=ANY_OBJ, zones=arr(ZONE_SCORE),
             site=obj(score=NNUM, ratings=INT, counts=COUNTS), days=arr(obj(date=STR, zones=arr(ZONE_SCORE))),
             actions=arr(ACTION), **{"from": STR, "to": STR})
ROUTES = [
    Route("GET", "/api/satisfaction", satisfaction, "read",
          "Satisfaction scores (0-100: the mean of the terminals' presses, 100/75/50/25/0) per zone and for the "
          f"site: of today, ?date=, or each day of ?from=&to= (at most {RANGE_MAX_DAYS} days) and the range; "
          "?zone= for one zone; with the open corrective actions", SCORES,
          query={"date": DATE, "from": DATE, "to": DATE, "zone": {"type": "string", "x-enum-site-zones": True}},
          tag="floor"),
    Route("GET", "/api/satisfaction/actions", actions, "read",
          "Corrective actions of satisfaction_low, newest first (?state=open: not closed; ?zone=)", arr(ACTION),
          query={"state": enum("open", ""), "zone": {"type": "string", "x-enum-site-zones": True}}, tag="floor"),
    Route("POST", "/api/satisfaction/actions/{id}/acknowledge", _step("acknowledge", False), "satisfaction.act",
          "Acknowledge a corrective action (its owner takes it on), optionally with a {note}", ACTION,
          body=NOTE_BODY, tag="floor"),
    Route("POST", "/api/satisfaction/actions/{id}/comment", _step("comment", True), "satisfaction.act",
          "Add a {note} to a corrective action's thread", ACTION,
          body={"type": "object", "required": ["note"], "properties": {
              "note": {"type": "string", "minLength": 1, "maxLength": NOTE_MAX, "pattern": r"\S"}}}, tag="floor"),
    Route("POST", "/api/satisfaction/actions/{id}/close", _step("close", False), "satisfaction.act",
          "Close a corrective action (its satisfaction_low alarm clears), optionally with a {note}", ACTION,
          body=NOTE_BODY, tag="floor"),
]
