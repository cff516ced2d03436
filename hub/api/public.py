"""The patient's request page, one per zone (``/r/<zone>``, printed as a QR code): no login, no personal
data but an optional phone number for a complaint's closure notice.

Why it is safe to leave open: the page raises only the public kinds (hub.requests.PUBLIC_KINDS) in a zone
that exists; each client address may raise ``public_per_address_per_hour`` requests an hour
(``PublicThrottle``, refused with 429 and counted); the write is JSON only (guarded() in hub.app refuses
anything else with 415, so an HTML form on another site cannot post it) and a browser's cross-site Origin
is refused (403); every field is checked (hub.requests.raise_request) and the answer says nothing but the
request's number.
"""

from __future__ import annotations

import html
from collections import OrderedDict, deque
from pathlib import Path

from aiohttp import web

from hub.api import BOOL, INT, STR, ApiError, Route, body_json, client_address, enum, obj, ok
from hub.api.requests import ZONE
from hub.context import ctx
from hub.requests import PUBLIC_KINDS, TOPICS, RequestError, clean_phone

PAGE = Path(__file__).resolve().parents[2] / "console" / "static" / "public" / "request.html"
THROTTLE = "public_request_throttle"  # key in HubContext.extra
WINDOW_S = 3600.0


class PublicThrottle:
    """Requests per client address in the last hour; at most ``max_keys`` addresses remembered."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, address: str, now: float, limit: int) -> bool:
        times = self._seen.pop(address, deque())
        while times and now - times[0] >= WINDOW_S:
            times.popleft()
        allowed = len(times) < limit
        if allowed:
            times.append(now)
        if times:
            self._seen[address] = times  # to the end: the least recently used address is first
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)
        return allowed


def _lang(request: web.Request) -> str:
    """zh unless the browser prefers English (the page has a switch)."""
    for part in request.headers.get("Accept-Language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "zh"


async def page(request: web.Request) -> web.Response:
    """The zone's page; the zone's names go in as escaped attributes (the page has no inline script)."""
    c = ctx(request)
    zone_id = request.match_info["zone"]
    try:
        zone = c.hub.site.zone(zone_id)
    except KeyError:
        raise ApiError(404, f"no such zone: {zone_id[:64]}") from None
    if "public_page" not in c.extra:
        c.extra["public_page"] = PAGE.read_text(encoding="utf-8")
    text = (c.extra["public_page"].replace("{{lang}}", _lang(request))
            .replace("{{zone}}", html.escape(zone.id, quote=True))
            .replace("{{zone_name}}", html.escape(zone.name, quote=True))
            .replace("{{zone_name_zh}}", html.escape(zone.name_zh or zone.name, quote=True)))
    return web.Response(text=text, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-cache", "Vary": "Accept-Language"})


async def raise_public(request: web.Request) -> web.Response:
    c = ctx(request)
    hub = c.hub
    origin = request.headers.get("Origin")
    if origin not in (None, "null") and origin.split("://", 1)[-1] != request.host:
        hub.metrics["public_request_cross_site"] += 1
        raise ApiError(403, "requests are accepted from this hub's own page only")
    data = await body_json(request)
    throttle = c.extra.setdefault(THROTTLE, PublicThrottle())
    if not throttle.allow(client_address(request), hub.clock.now(),
                          hub.requests.settings["public_per_address_per_hour"]):
        hub.metrics["public_request_throttled"] += 1
        raise ApiError(429, "too many requests from this address; ask at the service desk",
                       headers={"Retry-After": "600"})
    kind, zone, topic, detail = (data.get(k, "") for k in ("kind", "zone", "topic", "detail"))
    try:
        if kind not in PUBLIC_KINDS:
            raise RequestError(f"kind must be one of {', '.join(PUBLIC_KINDS)}")
        if not all(isinstance(v, str) for v in (zone, topic, detail)):
            raise RequestError("zone, topic and detail must be strings")
        if set(data) - {"kind", "zone", "topic", "detail", "phone"}:
            raise RequestError("unknown fields")
        phone = clean_phone(data["phone"]) if "phone" in data else None
        with hub.unit_of_work():
            out = hub.requests.raise_request(kind, zone, "qr", "", topic, detail, False, phone)
    except RequestError as exc:
        hub.metrics["public_request_invalid"] += 1
        raise ApiError(400, str(exc)) from None
    hub.metrics["public_requests"] += 1
    return ok({"id": out["id"], "kind": out["kind"], "notify": out["has_phone"]}, 201)


PUBLIC_BODY = {
    "type": "object", "required": ["kind", "zone"], "additionalProperties": False, "properties": {
        "kind": enum(*PUBLIC_KINDS), "zone": ZONE, "topic": enum(*TOPICS),
        "detail": {"type": "string", "maxLength": 500},
        # What hub.requests.clean_phone accepts: 6-15 digits, a leading +, spaces, dashes and brackets between.
        "phone": {"type": "string", "maxLength": 30, "pattern": r"^[\s()-]*\+?(?:[\s()-]*[0-9]){6,15}[\s()-]*$"}},
    # a complaint names its topic; a phone number is taken for a complaint's closure notice only
    "if": {"properties": {"kind": {"const": "complaint"}}}, "then": {"required": ["topic"]},
    "else": {"not": {"required": ["phone"]}}}
ROUTES = [
    # An HTML page for people, in the document because a QR code prints its address (as /reports/print is).
    Route("GET", "/r/{zone}", page, None,
          "A zone's patient request page, printed as a QR code (no login; zh unless the browser prefers English)",
          STR, tag="requests", content_type="text/html"),
    Route("POST", "/api/public/requests", raise_public, None,
          "A patient's request from a zone's QR page (no login; rate-limited per address)",
          obj(id=INT, kind=STR, notify=BOOL), body=PUBLIC_BODY, tag="requests"),
]
