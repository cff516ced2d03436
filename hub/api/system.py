"""Health, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from hub.api import ANY_OBJ, ApiError, Route, ok
from hub.context import ctx

REQUIRED = ("db", "mqtt")  # the hub cannot do its job without these; InfluxDB only feeds history and stats


async def healthz(request: web.Request) -> web.Response:
    c = ctx(request)
    components = {
        "db": "up" if c.hub.db.ping() else "down",
        "mqtt": "up" if c.ingest is not None and c.ingest.is_connected() else "down",
        "influx": "up" if await c.influx.ping() else "down",
    }
    healthy = all(components[k] == "up" for k in REQUIRED)
    return ok({"status": "ok" if healthy else "degraded", "components": components}, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    c = ctx(request)
    hub = c.hub
    lines = [
        "# HELP floorops_hub_messages_total Messages received from the broker.",
        "# TYPE floorops_hub_messages_total counter",
        f"floorops_hub_messages_total {hub.metrics['messages']}",
        "# TYPE floorops_hub_duplicates_total counter",
        f"floorops_hub_duplicates_total {hub.metrics['duplicates']}",
        "# HELP floorops_hub_rejected_total Messages the hub could not use, by reason.",
        "# TYPE floorops_hub_rejected_total counter",
    ]
    for key, n in sorted(hub.metrics.items()):
        if key.startswith("rejected_"):
            lines.append(f'floorops_hub_rejected_total{{reason="{key[9:]}"}} {n}')
    lines += [
        "# TYPE floorops_hub_alarms_active gauge",
        f"floorops_hub_alarms_active {len(hub.alarms.open)}",
        "# TYPE floorops_hub_ws_clients gauge",
        f"floorops_hub_ws_clients {len(hub.bus.subscribers)}",
        "# TYPE floorops_hub_events_total counter",
        f"floorops_hub_events_total {hub.bus.delivered}",
        "# TYPE floorops_hub_login_failed_total counter",
        f"floorops_hub_login_failed_total {hub.metrics['login_failed']}",
    ]
    if c.webhooks is not None:
        lines.append("# TYPE floorops_hub_webhooks_total counter")
        for key in ("delivered", "retries", "failed", "dropped"):
            lines.append(f'floorops_hub_webhooks_total{{result="{key}"}} {c.webhooks.stats[key]}')
    for state, n in hub.db.all("SELECT state, COUNT(*) FROM tickets GROUP BY state"):
        lines.append(f'floorops_hub_tickets{{state="{state}"}} {n}')
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")


async def openapi(request: web.Request) -> web.Response:
    from hub.openapi import document  # late: the document lists every module's routes
    return ok(document([z.id for z in ctx(request).hub.site.zones]))


ROUTES = [
    Route("GET", "/healthz", healthz, None, "Health of the hub and each component it uses (503 when db or mqtt is down)",
          ANY_OBJ, tag="system"),
    # Public like /healthz, for a Prometheus scraper: counters only, nothing about patients or people.
    Route("GET", "/metrics", metrics, None, "Prometheus text format", {"type": "string"}, tag="system"),
    Route("GET", "/api/openapi.json", openapi, None, "This document", ANY_OBJ, tag="system"),
]
