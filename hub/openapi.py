"""The OpenAPI 3.1 document, built from the route table (hub/api/*.py ROUTES), and its own route.

The document's route lives here, not in hub/api/system.py: the document lists every module's routes, so the
module that serves it sits above them all (hub/api/* never imports this module; no import cycle).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from hub.api import ANY_OBJ, Route, ok
from hub.context import ctx

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}


async def openapi(request: web.Request) -> web.Response:
    return ok(document([z.id for z in ctx(request).hub.site.zones]))


ROUTES = [Route("GET", "/api/openapi.json", openapi, None, "This document", ANY_OBJ, tag="system")]


def all_routes() -> list[Route]:
    from hub.api import (admin, floor, flows, forecast, notify, public, reports, requests, roster, satisfaction,
                         screens, session, stream, system, systems, work)
    return [*system.ROUTES, *ROUTES, *session.ROUTES, *floor.ROUTES, *systems.ROUTES, *work.ROUTES, *requests.ROUTES,
            *public.ROUTES, *notify.ROUTES, *forecast.ROUTES, *admin.ROUTES, *screens.ROUTES, *stream.ROUTES,
            *reports.ROUTES, *satisfaction.ROUTES, *roster.ROUTES, *flows.ROUTES]


def _operation(r: Route, zones: list[str]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": r.summary, "operationId": f"{r.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', r.path.lower()).strip('_')}",
                          "tags": [r.tag] if r.tag else []}
    id_schema = ({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
                 if r.path.startswith(("/api/devices/", "/api/zones/", "/api/people/", "/r/")) else {"type": "integer", "minimum": 0})
    params = [{"name": n, "in": "path", "required": True, "schema": id_schema} for n in re.findall(r"{(\w+)}", r.path)]
    for n, s in r.query.items():
        if s.get("x-enum-site-zones"):
            s = {"type": "string", "enum": zones} if zones else {"type": "string"}
        params.append({"name": n, "in": "query", "required": False, "schema": s})
    if params:
        op["parameters"] = params
    if r.body is not None:
        body = r.body
        if body.get("properties", {}).get("zone", {}).get("x-enum-site-zones"):
            zone = {"type": "string", "enum": zones} if zones else {"type": "string"}
            body = {**body, "properties": {**body["properties"], "zone": zone}}
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    ok_status = "201" if r.method == "POST" and r.path in ("/api/users", "/api/devices", "/api/requests",
                                                           "/api/public/requests", "/api/people",
                                                           "/api/roster/proposal") else "200"
    content_type = "text/plain" if r.path == "/metrics" else r.content_type
    responses: dict[str, Any] = {ok_status: {"description": "OK", "content": {content_type: {"schema": r.response or {}}}}}
    if r.path == "/ws":
        responses = {"101": {"description": "Switching protocols to a WebSocket"}}
    err = {"content": {"application/json": {"schema": ERROR}}}
    responses["400"] = {"description": "Bad request", **err}
    if r.permission is not None or r.path == "/api/login":
        responses["401"] = {"description": "Not logged in, or the token expired", **err}
    if r.path == "/api/login":
        responses["429"] = {"description": "Too many failed logins from this address (exponential backoff); "
                                           "see Retry-After", **err}
        responses["503"] = {"description": "Every password thread is busy; try again (Retry-After)", **err}
    if r.path == "/api/public/requests":
        responses["403"] = {"description": "Sent from another site's page (Origin)", **err}
        responses["429"] = {"description": "Too many requests from this address this hour; see Retry-After", **err}
    if r.method in ("POST", "PUT", "PATCH", "DELETE"):
        responses["415"] = {"description": "A write with a body or the session cookie must be application/json",
                            **err}
    if r.path == "/ws":
        responses["403"] = {"description": "This Origin may not open the WebSocket (cfg.hub.ws_origins)", **err}
    if r.permission not in (None, "read"):
        responses["403"] = {"description": "The role may not do this", **err}
    if "{" in r.path or r.path == "/api/me/notify":  # the latter: an account that is no roster person
        responses["404"] = {"description": "No such resource", **err}
    if (r.method in ("POST", "DELETE") and "{id}" in r.path) or (r.method != "GET" and r.path in (
            "/api/roster/proposal", "/api/roster/publish", "/api/people", "/api/requests/settings")):
        responses["409"] = {"description": "Not possible in the resource's present state", **err}
    if r.path == "/healthz":
        responses["503"] = {"description": "A component the hub needs (db, mqtt) is down",
                            "content": {"application/json": {"schema": r.response}}}
    elif r.path in ("/api/forecast", "/api/staffing", "/api/devices", "/api/devices/{id}/history",
                    "/api/zones/{id}/history", "/api/flows") or (r.method, r.path) in (("DELETE", "/api/devices/{id}"),
                                                                                        ("POST", "/api/roster/proposal")):
        responses["503"] = {"description": "A component is unavailable (no model trained, InfluxDB or broker down)", **err}
    op["responses"] = responses
    if r.permission is not None:
        op["security"] = [{"bearer": []}, {"cookie": []}]
        op["x-permission"] = r.permission
    else:
        op["security"] = []
    return op


def document(zones: list[str] | None = None) -> dict[str, Any]:
    """The document; ``zones`` (the site's zone ids) makes ``zone`` parameters enumerations."""
    paths: dict[str, dict[str, Any]] = {}
    for r in all_routes():
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r, zones or [])
    return {
        "openapi": "3.1.0",
        "info": {"title": "FloorOps hub", "version": "1.0.0",
                 "description": "Live state, alarms, tickets, dispatch and forecasts of a hospital's service floors. "
                                "Log in with POST /api/login; send the token as `Authorization: Bearer` (or the session cookie; "
                                "never in a URL). /ws closes with 4000 (too slow) or 4001 (session ended). "
                                "Times are ISO 8601 with the site's UTC offset; errors are {\"error\": ...}."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "floorops_session"},
        }},
    }
