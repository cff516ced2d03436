"""Queue screens' displays and operators' notices to them (hub.screens)."""

from __future__ import annotations

from aiohttp import web

from hub.api import NUM, STR, ApiError, Route, arr, body_json, obj, ok
from hub.context import ctx
from hub.screens import NOTICE_MAX_S
from floorops.downlink import TEXT_MAX

SHOWN = obj(device_id=STR, guide={"type": ["object", "null"]}, notice={"type": ["object", "null"]})


async def screens(request: web.Request) -> web.Response:
    hub = ctx(request).hub
    return ok([hub.screens.shown(d.id) for d in hub.screens.screens()])


def _strings(data: dict[str, object], name: str) -> list[str]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > 500:
        raise ApiError(400, f"{name} must be a list of ids")
    return list(dict.fromkeys(value))  # each checked to be a str just above


async def notice(request: web.Request) -> web.Response:
    """``{devices|zones, text, text_zh, expires_s}``: to the named screens and every screen of the zones."""
    hub = ctx(request).hub
    data = await body_json(request)
    devices, zones = _strings(data, "devices"), _strings(data, "zones")
    text, text_zh, expires_s = data.get("text", ""), data.get("text_zh", ""), data.get("expires_s", 3600)
    if not isinstance(text, str) or not isinstance(text_zh, str) or not (text.strip() or text_zh.strip()):
        raise ApiError(400, "text and/or text_zh are required strings")
    if len(text) > TEXT_MAX or len(text_zh) > TEXT_MAX:
        raise ApiError(400, f"text and text_zh may be at most {TEXT_MAX} characters")
    if isinstance(expires_s, bool) or not isinstance(expires_s, (int, float)) or not 1 <= expires_s <= NOTICE_MAX_S:
        raise ApiError(400, f"expires_s must be a number of seconds 1..{NOTICE_MAX_S}")
    screens_by_id = {d.id: d for d in hub.screens.screens()}
    if unknown := [d for d in devices if d not in screens_by_id]:
        raise ApiError(400, f"not queue screens of the site: {', '.join(unknown[:10])}")
    if unknown := [z for z in zones if z not in {z.id for z in hub.site.zones}]:
        raise ApiError(400, f"not zones of the site: {', '.join(unknown[:10])}")
    targets = list(dict.fromkeys(devices + [d.id for d in screens_by_id.values() if d.zone in zones]))
    if not targets:
        raise ApiError(400, "name at least one queue screen (devices) or a zone with one (zones)")
    ids = hub.send_notice(targets, text, text_zh, float(expires_s), request["user"].username)
    return ok({"commands": [{"device_id": d, "id": i} for d, i in zip(targets, ids)]})


ROUTES = [
    Route("GET", "/api/screens", screens, "read",
          "What each queue screen was last told to show (guide or reroute, and notice) and whether it acknowledged",
          arr(SHOWN), tag="devices"),
    Route("POST", "/api/screens/notice", notice, "screens.notice",
          "Broadcast a notice to chosen queue screens (by id, or every screen of the zones named); audited",
          obj(commands=arr(obj(device_id=STR, id=STR))),
          body=obj(devices={**arr(STR), "maxItems": 500}, zones={**arr(STR), "maxItems": 500},
                   text={**STR, "maxLength": TEXT_MAX}, text_zh={**STR, "maxLength": TEXT_MAX},
                   expires_s={**NUM, "minimum": 1, "maximum": NOTICE_MAX_S}), tag="devices"),
]

