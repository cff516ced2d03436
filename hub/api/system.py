"""Health, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

from typing import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from hub.api import ANY_OBJ, CLOCK, INT, STR, Route, arr, obj, ok
from hub.clock import clock_json
from hub.context import HubContext, ctx

METRICS_REGISTRY = "metrics_registry"  # key in HubContext.extra
REJECTED_PREFIX = "rejected_"  # hub.metrics["rejected_<reason>"]
# The hub cannot do its job without these; InfluxDB only feeds history and stats.
REQUIRED = ("db", "mqtt", "ingest")


async def clock(request: web.Request) -> web.Response:
    hub = ctx(request).hub
    return ok(clock_json(hub.clock, hub.tz))


async def healthz(request: web.Request) -> web.Response:
    c = ctx(request)
    ingest = c.ingest.health() if c.ingest is not None else {"state": "down"}
    components = {
        "db": "up" if c.hub.db.ping() else "down",
        "mqtt": "up" if c.ingest is not None and c.ingest.is_connected() else "down",
        # "stalled" while a batch keeps failing (the database locked, full or failing): nothing new applied.
        "ingest": ingest["state"],
        "influx": "up" if await c.influx.ping() else "down",
    }
    healthy = all(components[k] == "up" for k in REQUIRED)
    body = {"status": "ok" if healthy else "degraded", "components": components}
    if ingest["state"] == "stalled":
        body["ingest"] = ingest
    return ok(body, status=200 if healthy else 503)


class HubCollector:
    """The hub's live numbers as Prometheus families, read at scrape time from where they already live
    (the hub's counters, the alarm table, the event bus, the webhook sender, the tickets table)."""

    def __init__(self, c: HubContext) -> None:
        self.c = c

    def collect(self) -> Iterator[Metric]:
        hub, webhooks = self.c.hub, self.c.webhooks
        yield CounterMetricFamily("floorops_hub_messages", "Messages received from the broker.",
                                  value=hub.metrics["messages"])
        yield CounterMetricFamily("floorops_hub_duplicates", "Records dropped as repeats of a seen seq.",
                                  value=hub.metrics["duplicates"])
        rejected = CounterMetricFamily("floorops_hub_rejected", "Messages the hub could not use, by reason.",
                                       labels=["reason"])
        for key, n in sorted(hub.metrics.items()):
            if key.startswith(REJECTED_PREFIX):
                rejected.add_metric([key.removeprefix(REJECTED_PREFIX)], n)
        yield rejected
        yield CounterMetricFamily("floorops_hub_queue_tickets_unmatched",
                                  "Queue ticket calls or outcomes that matched no issued ticket (hub.service_levels).",
                                  value=hub.metrics["tickets_unmatched"])
        yield CounterMetricFamily("floorops_hub_ticks", "Rule ticks done (time-driven rules, escalation).",
                                  value=hub.metrics["ticks"])
        yield CounterMetricFamily("floorops_hub_dead_letters",
                                  "Records that failed alone for a reason of their own, kept in dead_letters.",
                                  value=hub.metrics["dead_letters"])
        ingest = getattr(self.c, "ingest", None)  # tests may build the context without ingest
        yield CounterMetricFamily("floorops_hub_ingest_retries",
                                  "Failed attempts at applying a batch (retried: database locked, full, failing).",
                                  value=ingest.retries if ingest is not None else 0)
        yield CounterMetricFamily("floorops_hub_ingest_preemptions",
                                  "Transactions of readings committed early so that waiting faults went first.",
                                  value=ingest.preemptions if ingest is not None else 0)
        yield GaugeMetricFamily("floorops_hub_ingest_stalled_seconds",
                                "How long the current batch has been failing (0: ingest healthy).",
                                value=ingest.stalled_for() if ingest is not None else 0.0)
        dropped = ingest.broker_dropped if ingest is not None else None
        if dropped is not None:
            yield CounterMetricFamily("floorops_broker_dropped_messages",
                                      "Messages the broker dropped from full session queues since it started "
                                      "($SYS/broker/publish/messages/dropped, as the hub last read it).",
                                      value=dropped)
        yield CounterMetricFamily("floorops_hub_http_db_busy",
                                  "HTTP actions refused (503) because another process held the database lock.",
                                  value=hub.metrics["http_db_busy"])
        chairs = CounterMetricFamily("floorops_hub_wheelchair_history",
                                     "Wheelchair station-hours imported from InfluxDB at start (hours), and the "
                                     "attempts that failed (failed: InfluxDB down or the database busy).",
                                     labels=["result"])
        chairs.add_metric(["hours"], hub.metrics["wheelchair_history_hours"])
        chairs.add_metric(["failed"], hub.metrics["wheelchair_history_failed"])
        yield chairs
        yield GaugeMetricFamily("floorops_hub_alarms_active", "Alarms open now.", value=len(hub.alarms.open))
        yield GaugeMetricFamily("floorops_hub_ws_clients", "Console WebSocket clients connected now.",
                                value=len(hub.bus.subscribers))
        yield CounterMetricFamily("floorops_hub_events", "Events delivered to WebSocket clients.",
                                  value=hub.bus.delivered)
        yield CounterMetricFamily("floorops_hub_login_failed", "Failed logins.", value=hub.metrics["login_failed"])
        if webhooks is not None:
            sent = CounterMetricFamily("floorops_hub_webhooks", "Webhook deliveries, by result.", labels=["result"])
            for key in ("delivered", "retries", "failed", "dropped"):
                sent.add_metric([key], webhooks.stats[key])
            yield sent
        systems = getattr(self.c, "systems", None)
        if systems is not None:
            counts = CounterMetricFamily("floorops_hub_system_checks",
                                         "Checks of the hospital's systems (hub.systems), by result: ok, failed; "
                                         "influx_dropped: points not written; rule_failures: results not applied "
                                         "(database locked; the next check retries).", labels=["result"])
            counts.add_metric(["ok"], systems.metrics["checks"] - systems.metrics["check_failures"])
            for key, label in (("check_failures", "failed"), ("influx_dropped", "influx_dropped"),
                               ("rule_failures", "rule_failures")):
                counts.add_metric([label], systems.metrics[key])
            yield counts
            response = GaugeMetricFamily("floorops_hub_system_response_ms",
                                         "Each checked system's last response time.", labels=["system"])
            for name, hist in systems.history.items():
                if hist and hist[-1].response_ms is not None:
                    response.add_metric([name], hist[-1].response_ms)
            yield response
        notify = self.c.extra.get("notify")  # notify branch: pages to people's channels (hub/notify/outbox.py)
        if notify is not None:
            pages = CounterMetricFamily("floorops_hub_pages", "Pages to people's channels, by result.",
                                        labels=["result"])
            for key in ("delivered", "retries", "failed", "db_errors"):
                pages.add_metric([key], notify.stats[key])
            yield pages
        notices = GaugeMetricFamily("floorops_hub_closure_notices", "Complainants' closure notices, by delivery "
                                    "state (hub.requests): pending, sent, failed, no_channel.", labels=["state"])
        for state, n in hub.requests.notice_counts().items():
            notices.add_metric([state], n)
        yield notices
        tickets = GaugeMetricFamily("floorops_hub_tickets", "Tickets, by state.", labels=["state"])
        for state, n in hub.db.all("SELECT state, COUNT(*) FROM tickets GROUP BY state"):
            tickets.add_metric([state], n)
        yield tickets


def metrics_registry(c: HubContext) -> CollectorRegistry:
    """The app's own registry (kept in its context), never prometheus_client's global one: tests run
    several hubs in one process."""
    registry = c.extra.get(METRICS_REGISTRY)
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(HubCollector(c))
        c.extra[METRICS_REGISTRY] = registry
    return registry


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(metrics_registry(ctx(request)))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def dead_letters(request: web.Request) -> web.Response:
    """The newest records the hub could not apply for a reason of their own (admins: audit.read)."""
    return ok(ctx(request).hub.dead_letters())


ROUTES = [
    Route("GET", "/healthz", healthz, None, "Health of the hub and each component it uses (503 when db or mqtt is down or ingest is stalled)",
          ANY_OBJ, tag="system"),
    # Public like /healthz, for a Prometheus scraper: counters only, nothing about patients or people.
    Route("GET", "/metrics", metrics, None, "Prometheus text format", {"type": "string"}, tag="system"),
    # Public like /healthz: the site's time, which the console shows (and the login page's demo badge).
    Route("GET", "/api/clock", clock, None,
          "The centre's clock ([clock], docs/configuration.md): the real wall clock, or a demo clock that started "
          "the site's day at `start` and runs `speed` times real time; `now` is the site's time", CLOCK, tag="system"),
    Route("GET", "/api/dead-letters", dead_letters, "audit.read",
          "The newest 100 records that failed alone (kept with their reason, acknowledged to the broker)",
          arr(obj(id=INT, received_at=STR, topic=STR, agent_id=STR, reason=STR, payload=STR)), tag="system"),
]
