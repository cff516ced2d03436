"""Login, logout, who am I."""

from __future__ import annotations

from aiohttp import web

from hub.api import BOOL, STR, ApiError, Route, body_json, obj, ok
from hub.auth import AuthError
from hub.context import ctx

COOKIE = "floorops_session"


async def login(request: web.Request) -> web.Response:
    c = ctx(request)
    data = await body_json(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ApiError(400, "username and password are required strings")
    try:
        token, user = c.users.login(username, password, c.hub.clock.now(), c.cfg.hub.token_ttl_s)
    except AuthError as exc:
        c.hub.metrics["login_failed"] += 1
        raise ApiError(401, str(exc)) from None
    with c.hub.unit_of_work():
        c.hub.audit(user.username, "login")
    resp = ok({"token": token, "role": user.role, "username": user.username, "expires_in": c.cfg.hub.token_ttl_s})
    resp.set_cookie(COOKIE, token, max_age=c.cfg.hub.token_ttl_s, httponly=True, samesite="Strict", path="/")
    return resp


async def logout(request: web.Request) -> web.Response:
    c = ctx(request)
    token = request.get("token")
    if token:
        c.users.logout(token)
    resp = ok({"ok": True})
    resp.del_cookie(COOKIE, path="/")
    return resp


async def me(request: web.Request) -> web.Response:
    user = request["user"]
    return ok({"username": user.username, "role": user.role, "person": user.person})


ROUTES = [
    Route("POST", "/api/login", login, None, "Log in: a token (and a session cookie)",
          obj(token=STR, role=STR, username=STR, expires_in={"type": "integer"}),
          body={"type": "object", "required": ["username", "password"],
                "properties": {"username": STR, "password": STR}}, tag="session"),
    Route("POST", "/api/logout", logout, "read", "End this session", obj(ok=BOOL), tag="session"),
    Route("GET", "/api/me", me, "read", "The logged-in user", obj(username=STR, role=STR, person=STR), tag="session"),
]
