"""Alarm comments and assignees, escalation status, silences and maintenance windows (issue #15)."""

from __future__ import annotations

from aiohttp import web

from hub.api import ANY_OBJ, INT, STR, TIME, ApiError, Route, arr, body_json, int_id, obj, ok
from hub.api.work import ALARM, _act, comment_of
from hub.context import ctx
from hub.escalation import PreferencesError
from hub.roster import Person
from hub.silences import SilenceError

COMMENT = obj(id=INT, alarm_id=INT, at=TIME, author=STR, body=STR)
NAMES = {"type": "array", "items": {"type": "string"}}
WEEKLY = obj(days=NAMES, start=STR, end=STR)
SILENCE = obj(id=INT, device_ids=NAMES, zones=NAMES, kinds=NAMES, types=NAMES, starts_at=TIME, ends_at=TIME,
              weekly={"type": ["object", "null"], "properties": WEEKLY["properties"]}, expires_at=TIME, reason=STR,
              author=STR, created_at=TIME, active={"type": "boolean"}, lifted_at=TIME, lifted_by=STR)
SILENCE_BODY = {"type": "object", "required": ["reason"], "properties": {
    "device_ids": NAMES, "zones": NAMES, "kinds": NAMES, "types": NAMES, "starts_at": STR, "ends_at": STR,
    "weekly": WEEKLY, "expires_at": STR, "reason": STR}}


async def comments(request: web.Request) -> web.Response:
    hub, i = ctx(request).hub, int_id(request)
    if hub.alarms.get(i) is None:
        raise ApiError(404, f"no such alarm: {i}")
    return ok(hub.alarms.comments(i))


async def add_comment(request: web.Request) -> web.Response:
    i, user = int_id(request), request["user"].username
    text = comment_of(await body_json(request), True)
    hub = ctx(request).hub
    return _act(request, lambda: hub.alarms.comment(i, user, text), f"alarm:{i}", "alarm.comment")


async def assign(request: web.Request) -> web.Response:
    i, user = int_id(request), request["user"].username
    data = await body_json(request)
    hub = ctx(request).hub
    assignee = data.get("assignee")
    known = {p.id for p in hub.roster.people} | {p.username for p in hub.roster.people if p.username}
    if assignee is not None and (not isinstance(assignee, str) or assignee not in known):
        raise ApiError(400, "assignee must be a roster person id or username (or null)")
    return _act(request, lambda: hub.alarms.assign(i, assignee, user), f"alarm:{i}", "alarm.assign")


async def escalation(request: web.Request) -> web.Response:
    hub, i = ctx(request).hub, int_id(request)
    if hub.alarms.get(i) is None:
        raise ApiError(404, f"no such alarm: {i}")
    return ok(hub.escalation.status("alarm", str(i)) or {"state": "none"})


ENDED_DAYS = 30  # how far back ?ended=true looks


async def silences(request: web.Request) -> web.Response:
    """In force or upcoming; with ``?ended=true`` those that expired or were lifted in the last 30 days."""
    hub = ctx(request).hub
    ended = request.query.get("ended", "false")
    if ended not in ("true", "false"):
        raise ApiError(400, "ended must be true or false")
    if ended == "true":
        return ok(hub.silences.ended(hub.clock.now() - ENDED_DAYS * 86400))
    return ok(hub.silences.list())


async def create_silence(request: web.Request) -> web.Response:
    data = await body_json(request)
    hub, user = ctx(request).hub, request["user"].username
    try:
        with hub.unit_of_work():
            out = hub.silences.create(data, user)
            hub.audit(user, "silence.create", f"silence:{out['id']}", {"reason": out["reason"]})
    except SilenceError as exc:
        hub.silences.reload()
        raise ApiError(400, str(exc)) from None
    except Exception:
        hub.silences.reload()  # rolled back (a locked database): memory follows the database
        raise
    return ok(out, status=201)


async def lift_silence(request: web.Request) -> web.Response:
    i, user = int_id(request), request["user"].username
    hub = ctx(request).hub
    try:
        with hub.unit_of_work():
            out = hub.silences.lift(i, user)
            hub.audit(user, "silence.lift", f"silence:{i}")
    except KeyError:
        hub.silences.reload()
        raise ApiError(404, f"no such silence in force: {i}") from None
    except Exception:
        hub.silences.reload()
        raise
    return ok(out)


def _person(request: web.Request) -> Person:
    hub, user = ctx(request).hub, request["user"]
    person = next((p for p in hub.roster.people if user.person and p.id == user.person), None) \
        or hub.roster.by_username(user.username)
    if person is None:
        raise ApiError(404, "your account is not a person of the roster: nothing pages you")
    return person


async def my_preferences(request: web.Request) -> web.Response:
    return ok(ctx(request).hub.escalation.preferences_of(_person(request)))


async def set_my_preferences(request: web.Request) -> web.Response:
    """A person's own choices: channels, events, quiet hours (emergencies reach them all the same)."""
    data = await body_json(request)
    hub, person, user = ctx(request).hub, _person(request), request["user"].username
    try:
        with hub.unit_of_work():
            out = hub.escalation.set_preferences(person, data)
            hub.audit(user, "notify.preferences", f"person:{person.id}", data)
    except PreferencesError as exc:
        hub.escalation.forget_unsaved()
        raise ApiError(400, str(exc)) from None
    except Exception:
        hub.escalation.forget_unsaved()
        raise
    return ok(out)


PREFS = obj(person=STR, channels=NAMES, events=NAMES, quiet_hours=STR, available_channels=NAMES,
            urgent_severities=NAMES)
ROUTES = [
    Route("GET", "/api/me/notify", my_preferences, "read",
          "What pages reach you: channels, events, quiet hours (from the roster, or your own choices)", PREFS,
          tag="notify"),
    Route("PUT", "/api/me/notify", set_my_preferences, "read",
          "Choose your channels, events and quiet hours (emergencies always reach you)", PREFS,
          body={"type": "object", "properties": {
              "channels": NAMES, "events": {"type": "array", "maxItems": 200, "items": {
                  "type": "string", "pattern": "^(severity|type|subject):", "maxLength": 80}},
              "quiet_hours": STR}},
          tag="notify"),
    Route("GET", "/api/alarms/{id}/comments", comments, "read", "An alarm's comment thread", arr(COMMENT),
          tag="alarms"),
    Route("POST", "/api/alarms/{id}/comments", add_comment, "alarms.ack", "Add a comment to an alarm", COMMENT,
          body={"type": "object", "required": ["comment"], "properties": {
              "comment": {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": "\\S"}}}, tag="alarms"),
    Route("POST", "/api/alarms/{id}/assign", assign, "alarms.ack", "Assign an alarm to a person (null: nobody)",
          ALARM, body={"type": "object", "required": ["assignee"], "properties": {"assignee": {"type": ["string", "null"]}}},
          tag="alarms"),
    Route("GET", "/api/alarms/{id}/escalation", escalation, "read",
          "Where the alarm's escalation chain is (chain, step, reminders, state)", ANY_OBJ, tag="alarms"),
    Route("GET", "/api/silences", silences, "read",
          "Silences and maintenance windows not expired (active or upcoming); ?ended=true: those that expired or "
          "were lifted in the last 30 days, with lifted_at and lifted_by", arr(SILENCE),
          query={"ended": {"type": "string", "enum": ["true", "false"]}}, tag="silences"),
    Route("POST", "/api/silences", create_silence, "silences.write",
          "Create a silence or maintenance window (one-off or weekly), with a reason and an expiry", SILENCE,
          body=SILENCE_BODY, tag="silences"),
    Route("DELETE", "/api/silences/{id}", lift_silence, "silences.write", "Lift a silence before its expiry",
          SILENCE, tag="silences"),
]
