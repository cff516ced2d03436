"""HTTP routes, one module per resource. Each route declares its permission (hub.auth.PERMISSIONS) and
its OpenAPI description in the same place it is registered, so the document cannot drift from the code."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

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


class ApiError(Exception):
    """An error the client caused or must know about: status and a message safe to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


async def body_json(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the request body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data


def int_id(request: web.Request, name: str = "id") -> int:
    text = request.match_info[name]
    if not text.isdigit() or len(text) > 18:
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


def enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}
