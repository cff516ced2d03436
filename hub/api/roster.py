"""The roster people edit (issue #15 item 6): people (admins), and each day's plan -- proposed from the
staffing plan (Erlang C on the forecast), edited by a floor manager, published for the dispatcher."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from aiohttp import web

from hub.api import ANY_OBJ, BOOL, DATE, INT, NSTR, STR, ApiError, Route, arr, body_json, obj, ok
from hub.clock import iso
from hub.context import HubContext, ctx
from hub.forecasting import ForecastUnavailable
from hub.roster import DAYS, PERSON_ROLES, PlanError, Person, RosterError, person_from, propose, shifts_of

MAX_DAYS_AHEAD = 31  # a plan further ahead has no forecast to stand on
MAX_CELLS = 2000  # cells in one edit (people x 24 hours of a large floor)


# -- people ---------------------------------------------------------------------------------------------

def _check_person(c: HubContext, p: Person, others: tuple[Person, ...]) -> None:
    zones = set(c.hub.state.zones)
    if unknown := [z for z in p.zones if z not in zones]:
        raise ApiError(400, f"no such zone: {', '.join(unknown)}")
    if p.username and any(o.username == p.username and o.id != p.id for o in others):
        raise ApiError(400, f"username {p.username!r} is already another person's")


def _admin_json(c: HubContext, p: Person) -> dict[str, Any]:
    """Every field as the roster holds it, and under ``notify`` the values in force: a person's own choices
    (/api/me/notify) override the roster's channels, events and quiet hours."""
    return {**p.to_admin_json(), "notify": c.hub.escalation.in_force(p)}


async def people(request: web.Request) -> web.Response:
    c = ctx(request)
    return ok([_admin_json(c, p) for p in c.hub.roster_store.people()])


async def add_person(request: web.Request) -> web.Response:
    c = ctx(request)
    try:
        p = person_from(await body_json(request))
    except RosterError as exc:
        raise ApiError(400, str(exc)) from None
    existing = c.hub.roster_store.people()
    if any(o.id == p.id for o in existing):
        raise ApiError(409, f"a person with id {p.id} exists already: PATCH /api/people/{p.id}")
    _check_person(c, p, existing)
    with c.hub.unit_of_work():
        c.hub.roster_store.put(p, c.hub.clock.now())
        c.hub.audit(request["user"].username, "person.add", f"person:{p.id}", {"role": p.role})
    c.hub.reload_roster()
    return ok(_admin_json(c, p), status=201)


def _person(c: HubContext, request: web.Request) -> Person:
    person_id = request.match_info["id"]
    p = c.hub.roster_store.get(person_id)
    if p is None:
        raise ApiError(404, f"no such person: {person_id}")
    return p


async def patch_person(request: web.Request) -> web.Response:
    c = ctx(request)
    old = _person(c, request)
    data = await body_json(request)
    if "id" in data and data["id"] != old.id:
        raise ApiError(400, "a person's id cannot change (add a new person instead)")
    try:
        p = person_from({**old.to_admin_json(), **data})
    except RosterError as exc:
        raise ApiError(400, str(exc)) from None
    _check_person(c, p, c.hub.roster_store.people())
    with c.hub.unit_of_work():
        c.hub.roster_store.put(p, c.hub.clock.now())
        c.hub.audit(request["user"].username, "person.update", f"person:{p.id}", {"fields": sorted(data)})
    c.hub.reload_roster()
    return ok(_admin_json(c, p))


def _named_in_settings(c: HubContext, person_id: str) -> list[str]:
    """Where the configuration names the person: the notify file's chains and the daily report."""
    where = [f"notify chain {ch.name}" for ch in c.hub.notify_settings.chains
             if any(f"person:{person_id}" in s.to for s in ch.steps)]
    if f"person:{person_id}" in c.cfg.reports.daily_to:
        where.append("reports.daily_to")
    return where


async def delete_person(request: web.Request) -> web.Response:
    c = ctx(request)
    p = _person(c, request)
    if named := _named_in_settings(c, p.id):
        raise ApiError(409, f"{p.id} is named in {', '.join(named)}: change the configuration first, or set "
                            "on_duty to false")
    with c.hub.unit_of_work():
        c.hub.roster_store.delete(p.id, c.hub.today())
        c.hub.audit(request["user"].username, "person.delete", f"person:{p.id}", {"name": p.name})
    c.hub.reload_roster()
    return ok({"deleted": p.id})


# -- a day's plan ----------------------------------------------------------------------------------------

def _day(c: HubContext, request: web.Request, required: bool) -> dt.date:
    text = request.query.get("date")
    today = c.hub.today()
    if text is None:
        if required:
            raise ApiError(400, "date is required (?date=YYYY-MM-DD)")
        return today
    try:
        day = dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise ApiError(400, "date must be YYYY-MM-DD")
    if required and day < today:
        raise ApiError(400, f"{day} is in the past: a past day's roster cannot change")
    if required and day > today + dt.timedelta(days=MAX_DAYS_AHEAD):
        raise ApiError(400, f"date must be at most {MAX_DAYS_AHEAD} days ahead (there is no forecast that far)")
    return day


def _cells_json(cells: list[tuple[str, int, str]]) -> list[dict[str, Any]]:
    return [{"person": pid, "hour": hour, "zone": zone} for pid, hour, zone in cells]


def day_json(c: HubContext, day: dt.date) -> dict[str, Any]:
    """The day's roster: people (working now, by the roster in force), the proposal and the published plan."""
    hub, store = c.hub, c.hub.roster_store
    now_local = dt.datetime.fromtimestamp(hub.clock.now(), hub.tz)
    working = {p.id: p for p in hub.roster.at(now_local)}
    plan = store.plan(day) or {}
    proposed, published = store.cells(day, "proposed"), store.cells(day, "published")
    if not plan.get("proposed_at"):
        status = "none"
    elif plan.get("published_at") is None:
        status = "proposed"
    else:
        status = "published" if proposed == published else "changed"
    return {
        "date": day.isoformat(), "status": status,
        "people": [{**p.to_json(now_local), "on_duty": p.id in working,
                    "zones_now": list(working[p.id].zones) if p.id in working else []} for p in hub.roster.people],
        "proposed_at": iso(plan.get("proposed_at"), hub.tz), "proposed_by": plan.get("proposed_by", ""),
        "edited_at": iso(plan.get("edited_at"), hub.tz), "edited_by": plan.get("edited_by", ""),
        "published_at": iso(plan.get("published_at"), hub.tz), "published_by": plan.get("published_by", ""),
        "unfilled": json.loads(plan.get("unfilled") or "[]"),
        "proposed": _cells_json(proposed), "published": _cells_json(published), "shifts": shifts_of(published),
    }


async def get_roster(request: web.Request) -> web.Response:
    c = ctx(request)
    return ok(day_json(c, _day(c, request, required=False)))


async def post_proposal(request: web.Request) -> web.Response:
    c = ctx(request)
    day = _day(c, request, required=True)
    try:
        rows = await asyncio.get_running_loop().run_in_executor(None, lambda: c.forecaster.staffing(day))
    except ForecastUnavailable as exc:
        raise ApiError(503, f"no staffing plan to propose from: {exc}") from None
    cells, unfilled = propose(c.hub.roster.people, rows, day, c.hub.tz)
    with c.hub.unit_of_work():
        c.hub.roster_store.save_proposal(day, cells, unfilled, request["user"].username, c.hub.clock.now())
        c.hub.audit(request["user"].username, "roster.propose", f"roster:{day}",
                    {"hours": len(cells), "unfilled": sum(u["short"] for u in unfilled)})
    return ok(day_json(c, day), status=201)


def _changes(c: HubContext, data: dict[str, Any]) -> list[tuple[str, int, str | None]]:
    cells = data.get("cells")
    if not isinstance(cells, list) or not 1 <= len(cells) <= MAX_CELLS:
        raise ApiError(400, f"cells must be a list of 1..{MAX_CELLS} {{person, hour, zone}}")
    people = {p.id for p in c.hub.roster.people}
    zones = set(c.hub.state.zones)
    out: list[tuple[str, int, str | None]] = []
    for i, cell in enumerate(cells):
        where = f"cells[{i}]"
        if not isinstance(cell, dict) or set(cell) - {"person", "hour", "zone"}:
            raise ApiError(400, f"{where} must be an object {{person, hour, zone}}")
        person, hour, zone = cell.get("person"), cell.get("hour"), cell.get("zone")
        if not isinstance(person, str) or person not in people:
            raise ApiError(400, f"{where}.person: no such person: {str(person)[:64]}")
        if not isinstance(hour, int) or isinstance(hour, bool) or not 0 <= hour <= 23:
            raise ApiError(400, f"{where}.hour must be an integer 0..23")
        if zone is not None and (not isinstance(zone, str) or (zone and zone not in zones)):
            raise ApiError(400, f"{where}.zone must be a zone of the site, '' (their own zones) or null (off)")
        out.append((person, hour, zone))
    return out


async def patch_proposal(request: web.Request) -> web.Response:
    c = ctx(request)
    day = _day(c, request, required=True)
    changes = _changes(c, await body_json(request))
    try:
        with c.hub.unit_of_work():
            c.hub.roster_store.edit(day, changes, request["user"].username, c.hub.clock.now())
            c.hub.audit(request["user"].username, "roster.edit", f"roster:{day}",
                        {"cells": [list(ch) for ch in changes[:50]], "count": len(changes)})
    except PlanError as exc:
        raise ApiError(409, str(exc)) from None
    return ok(day_json(c, day))


async def publish(request: web.Request) -> web.Response:
    c = ctx(request)
    day = _day(c, request, required=True)
    actor = request["user"].username
    try:
        with c.hub.unit_of_work():
            hours = c.hub.roster_store.publish(day, actor, c.hub.clock.now())
            c.hub.audit(actor, "roster.publish", f"roster:{day}", {"hours": hours})
            c.hub.bus.emit("roster.published", {"date": day.isoformat(), "hours": hours, "by": actor})
    except PlanError as exc:
        raise ApiError(409, str(exc)) from None
    c.hub.reload_roster()
    return ok(day_json(c, day))


HHMM = "([01][0-9]|2[0-3]):[0-5][0-9]"
SHIFT = {"type": "string", "pattern": f"^{HHMM}-({HHMM}|24:00)$"}
TEXT = {"type": "string", "maxLength": 500}
PERSON = obj(id={"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
             name={"type": "string", "pattern": "\\S", "maxLength": 500}, name_zh=TEXT,
             role={"type": "string", "enum": list(PERSON_ROLES)}, username=TEXT, zones=arr(STR), shift=SHIFT,
             days=arr({"type": "string", "enum": list(DAYS)}), on_duty=BOOL, elastic=BOOL, email=TEXT, phone=TEXT,
             channels=arr(TEXT), events=arr(TEXT), quiet_hours={"anyOf": [SHIFT, {"const": ""}]})
PERSON_BODY = {**PERSON, "required": ["id", "name", "role"], "additionalProperties": False}
# In an answer: the values in force (a person's own /api/me/notify choices over the roster's) and their source.
PERSON_OUT = {**PERSON, "properties": {**PERSON["properties"], "notify": obj(
    channels=arr(STR), events=arr(STR), quiet_hours=STR, source={"type": "string", "enum": ["roster", "own"]})}}
PERSON_PATCH = {**PERSON, "additionalProperties": False}
CELL = obj(person=STR, hour=INT, zone=NSTR)
DAY = obj(date=STR, status={"type": "string", "enum": ["none", "proposed", "published", "changed"]},
          people=arr(ANY_OBJ), proposed_at=NSTR, proposed_by=STR, edited_at=NSTR, edited_by=STR, published_at=NSTR,
          published_by=STR, unfilled=arr(obj(zone=STR, hour=INT, short=INT)), proposed=arr(CELL), published=arr(CELL),
          shifts=arr(obj(person=STR, zone=STR, start=STR, end=STR)))
EDIT = {"type": "object", "required": ["cells"], "properties": {"cells": {
    "type": "array", "minItems": 1, "maxItems": MAX_CELLS,
    "items": {"type": "object", "required": ["person", "hour"], "additionalProperties": False,
              "properties": {"person": STR, "hour": {"type": "integer", "minimum": 0, "maximum": 23}, "zone": NSTR}}}}}

ROUTES = [
    Route("GET", "/api/people", people, "people.read", "Everyone on the roster, contact points included, and under notify what pages each person now "
          "(their own choices or the roster's)", arr(PERSON_OUT),
          tag="roster"),
    Route("POST", "/api/people", add_person, "people.write", "Add a person (id, name, role required)", PERSON_OUT,
          body=PERSON_BODY, tag="roster"),
    Route("PATCH", "/api/people/{id}", patch_person, "people.write", "Change a person's fields (id stays)", PERSON_OUT,
          body=PERSON_PATCH, tag="roster"),
    Route("DELETE", "/api/people/{id}", delete_person, "people.write",
          "Remove a person and their hours from today's and later plans (409 while the configuration names them)",
          obj(deleted=STR), tag="roster"),
    Route("GET", "/api/roster", get_roster, "read",
          "The day's roster (?date=, today by default): people and who works now, the proposal, the published plan "
          "and its shifts", DAY, query={"date": DATE}, tag="roster"),
    Route("POST", "/api/roster/proposal", post_proposal, "roster.plan",
          "Propose the day's roster (?date= required) from the staffing plan: Erlang C on the forecast, per zone and "
          "hour, given to the people covering the zone; replaces the day's draft", DAY, query={"date": DATE},
          tag="roster"),
    Route("PATCH", "/api/roster/proposal", patch_proposal, "roster.plan",
          "Edit the day's proposal: cells {person, hour, zone} (zone '' their own zones, null off)", DAY, body=EDIT,
          query={"date": DATE}, tag="roster"),
    Route("POST", "/api/roster/publish", publish, "roster.plan",
          "Publish the day's proposal (?date= required): the dispatcher uses it from then on", DAY,
          query={"date": DATE}, tag="roster"),
]
