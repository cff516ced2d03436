"""Login, logout, who am I."""

from __future__ import annotations

from aiohttp import web

from hub.api import BOOL, STR, ApiError, Route, body_json, obj, ok
from hub.auth import AuthError
from hub.context import ctx

COOKIE = "floorops_session"
# Password guessing: after MAX_FAILURES wrong passwords for one username within WINDOW_S, that username
# is refused (429) until the oldest failure leaves the window.
MAX_FAILURES = 5
WINDOW_S = 300.0


def _throttled(request: web.Request, username: str, now: float) -> float:
    """Seconds until ``username`` may try again (0: now)."""
    failures = ctx(request).extra.setdefault("login_failures", {}).get(username, [])
    recent = [t for t in failures if now - t < WINDOW_S]
    return WINDOW_S - (now - recent[0]) if len(recent) >= MAX_FAILURES else 0.0


async def login(request: web.Request) -> web.Response:
    c = ctx(request)
    data = await body_json(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ApiError(400, "username and password are required strings")
    now = c.hub.clock.now()
    wait = _throttled(request, username, now)
    if wait > 0:
        raise ApiError(429, f"too many failed logins for {username}; try again in {int(wait) + 1} s")
    try:
        token, user = c.users.login(username, password, now, c.cfg.hub.token_ttl_s)
    except AuthError as exc:
        c.hub.metrics["login_failed"] += 1
        failures = c.extra.setdefault("login_failures", {})
        failures[username] = [t for t in failures.get(username, []) if now - t < WINDOW_S][-MAX_FAILURES:] + [now]
        if len(failures) > 10_000:  # bounded: forget usernames whose failures left the window
            for name in [n for n, ts in failures.items() if now - ts[-1] >= WINDOW_S]:
                del failures[name]
        raise ApiError(401, str(exc)) from None
    c.extra.setdefault("login_failures", {}).pop(username, None)
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
