"""Login, logout, who am I.

Password guessing is slowed per client address and per (address, username) with exponential backoff
(hub.auth.LoginThrottle), never by locking an account, so nobody can lock the admin out from elsewhere.
argon2 runs in a small bounded thread pool (hub.auth.PasswordPool): a flood of logins gets 503 answers
instead of stalling the event loop that serves the floor.
"""

from __future__ import annotations

from aiohttp import web

from hub.api import BOOL, STR, ApiError, Route, body_json, client_address, obj, ok, served_over_https
from hub.auth import MAX_PASSWORD, USERNAME_RE, LoginBusy, LoginThrottle, PasswordPool
from hub.context import HubContext, ctx

COOKIE = "floorops_session"
THROTTLE = "login_throttle"  # keys in HubContext.extra
POOL = "password_pool"


def login_guards(c: HubContext) -> tuple[LoginThrottle, PasswordPool]:
    """The hub's throttle and password pool (made on first use, one per application)."""
    if THROTTLE not in c.extra:
        c.extra[THROTTLE] = LoginThrottle()
        c.extra[POOL] = PasswordPool(c.cfg.hub.login_workers, c.cfg.hub.login_queue)
    return c.extra[THROTTLE], c.extra[POOL]


def cookie_secure(request: web.Request) -> bool:
    mode = ctx(request).cfg.hub.cookie_secure
    if mode in ("always", "never"):
        return mode == "always"
    return served_over_https(request)


async def login(request: web.Request) -> web.Response:
    c = ctx(request)
    data = await body_json(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ApiError(400, "username and password are required strings")
    if not USERNAME_RE.match(username) or len(password) > MAX_PASSWORD:
        c.hub.metrics["login_failed"] += 1
        raise ApiError(400, f"a username is 1-64 letters, digits, '.', '_' or '-'; a password at most {MAX_PASSWORD} "
                            "characters")
    throttle, pool = login_guards(c)
    address = client_address(request)
    now = c.hub.clock.now()
    wait = throttle.wait_s(address, username, now)
    if wait > 0:
        c.hub.metrics["login_throttled"] += 1
        raise ApiError(429, f"too many failed logins from this address; try again in {int(wait) + 1} s",
                       headers={"Retry-After": str(int(wait) + 1)})
    stored = c.users.password_hash(username)
    try:
        good = await pool.verify(stored[1] if stored else None, password)
    except LoginBusy:
        c.hub.metrics["login_busy"] += 1
        raise ApiError(503, "the hub is busy checking other logins; try again in a moment",
                       headers={"Retry-After": "1"}) from None
    if not good or stored is None:
        c.hub.metrics["login_failed"] += 1
        throttle.failed(address, username, c.hub.clock.now())
        raise ApiError(401, "wrong username or password")
    throttle.succeeded(address, username)
    user = stored[0]
    now = c.hub.clock.now()
    token = c.users.open_session(user, now, c.cfg.hub.token_ttl_s)
    with c.hub.unit_of_work():
        c.hub.audit(user.username, "login")
    resp = ok({"token": token, "role": user.role, "username": user.username, "expires_in": c.cfg.hub.token_ttl_s})
    resp.set_cookie(COOKIE, token, max_age=c.cfg.hub.token_ttl_s, httponly=True, samesite="Strict", path="/",
                    secure=cookie_secure(request))
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
                "properties": {"username": {"type": "string", "pattern": USERNAME_RE.pattern},
                               "password": {"type": "string", "maxLength": MAX_PASSWORD}}}, tag="session"),
    Route("POST", "/api/logout", logout, "read", "End this session (its WebSockets close with 4001)", obj(ok=BOOL),
          tag="session"),
    Route("GET", "/api/me", me, "read", "The logged-in user", obj(username=STR, role=STR, person=STR), tag="session"),
]
