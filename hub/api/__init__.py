"""HTTP routes, one module per resource. Each route declares its permission (hub.auth.PERMISSIONS) and
its OpenAPI description in the same place it is registered, so the document cannot drift from the code."""

from __future__ import annotations

import ipaddress
import json
import math
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, overload

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Route:
    method: str
    path: str
    handler: Handler
    permission: str | None  # None: no authentication (login, health, OpenAPI document)
    summary: str
    response: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    tag: str = ""
    content_type: str = "application/json"  # of the 200 answer (hub.openapi); CSV and HTML routes say theirs


class ApiError(Exception):
    """An error the client caused or must know about: status and a message safe to show."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


INT64_MAX = 2**63 - 1


class _NotJsonNumber(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotJsonNumber(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJsonNumber(text)
    return value


async def body_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object. NaN/Infinity, numbers that overflow a float and nesting deeper than the
    parser's recursion limit are 400s like any other malformed body (never a RecursionError and a 500)."""
    try:
        data = json.loads(await request.text(), parse_constant=_no_constant, parse_float=_finite)
    except _NotJsonNumber as exc:
        raise ApiError(400, f"the request body has a number out of range or not JSON: {str(exc)[:40]}") from None
    except RecursionError:
        raise ApiError(400, "the request body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the request body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data


@overload
def query_int(request: web.Request, name: str, default: int, lo: int = 0, hi: int = INT64_MAX) -> int: ...
@overload
def query_int(request: web.Request, name: str, default: None, lo: int = 0, hi: int = INT64_MAX) -> int | None: ...
def query_int(request: web.Request, name: str, default: int | None, lo: int = 0, hi: int = INT64_MAX) -> int | None:
    """An integer query parameter in [lo, hi]: ASCII digits only (not '²', not '1e3', not '-0'), else 400."""
    text = request.query.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or not lo <= int(text) <= hi:
        raise ApiError(400, f"{name} must be an integer {lo}..{hi}")
    return int(text)


def query_time(request: web.Request, name: str, default: str, now: float) -> float:
    """A point in time (``since=1h``, epoch seconds or ms, ISO 8601) that is finite and within years 1..9999."""
    from hub.clock import parse_since
    try:
        value = parse_since(request.query.get(name, default), now)
    except (ValueError, OverflowError) as exc:
        raise ApiError(400, str(exc)) from None
    if not math.isfinite(value) or not -62_135_596_800 <= value <= 253_402_300_799:
        raise ApiError(400, f"{name} must be a finite time between the years 1 and 9999")
    return value


def _trusted(c_cfg: Any, peer: str) -> bool:
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return False
    for net in c_cfg.hub.trusted_proxies:
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_address(request: web.Request) -> str:
    """The client's IP. X-Forwarded-For counts only when the TCP peer is a configured trusted proxy
    (cfg.hub.trusted_proxies); then the right-most address not itself a trusted proxy is the client."""
    from hub.context import ctx
    cfg = ctx(request).cfg
    peer = request.remote or ""
    if not _trusted(cfg, peer):
        return peer
    hops = [h.strip() for v in request.headers.getall("X-Forwarded-For", []) for h in v.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(cfg, hop):
            return hop
    return peer


def served_over_https(request: web.Request) -> bool:
    """HTTPS to the hub itself, or X-Forwarded-Proto: https from a trusted proxy."""
    from hub.context import ctx
    if request.secure:
        return True
    if _trusted(ctx(request).cfg, request.remote or ""):
        return request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https"
    return False


def int_id(request: web.Request, name: str = "id") -> int:
    text = request.match_info[name]
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ApiError(404, f"no such {name}: {text}")
    return int(text)


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    """An optional filter; left out or empty (``?state=``) means no filter."""
    value = request.query.get(name)
    if value in (None, ""):
        return None
    if value not in choices:
        raise ApiError(400, f"{name} must be one of {', '.join(choices)}")
    return value


# Reusable schema pieces for the OpenAPI document.
def obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


def arr(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
NSTR = {"type": ["string", "null"]}
NNUM = {"type": ["number", "null"]}
TIME = {"type": ["string", "null"], "format": "date-time"}
ANY_OBJ = {"type": "object"}
DIGITS = {"type": "string", "pattern": "^[0-9]{1,15}$"}
DATE = {"type": "string", "format": "date"}
DURATION = {"type": "string", "pattern": "^[0-9]{1,6}[smhdw]$"}
# The centre's clock (hub.clock.clock_json): GET /api/clock, and "clock" in GET /api/site.
CLOCK = obj(demo=BOOL, start=TIME, speed=NUM, now={"type": "string", "format": "date-time"}, now_ms=INT, timezone=STR)


def enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}
