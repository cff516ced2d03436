"""Reports: how long a quarter's report takes on a hub database with a busy hospital's quarter of queue
tickets and requests, and how long the hub's event loop stalls meanwhile (it must not: the route builds the
report in a worker thread on a connection of its own).

    .venv/bin/python bench/reports_quarter.py [--tickets-per-day 6000] [--requests-per-day 300]

In-process hub (hub.app.create_app, no broker, a fixed clock) in a temporary folder; a task samples the
loop every 5 ms while GET /api/reports?period=quarter runs, and prints the build time and the largest lag.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from centre.services import free_port  # noqa: E402 - after the path is set
from floorops.config import load_config  # noqa: E402 - after the path is set
from hub import reports  # noqa: E402 - after the path is set
from hub.app import create_app  # noqa: E402 - after the path is set
from hub.auth import UserStore  # noqa: E402 - after the path is set
from hub.clock import ManualClock  # noqa: E402 - after the path is set
from hub.context import CONTEXT  # noqa: E402 - after the path is set
from hub.core import Hub  # noqa: E402 - after the path is set


def fill(hub: Hub, first: dt.date, days: int, tickets: int, requests: int) -> None:
    """Queue tickets (called within 0..40 min) and requests (answered within 0..20 min) for each day."""
    db, tz, site = hub.db, hub.tz, hub.site
    rng = random.Random(1)
    queues = [(q.id, q.zone) for q in site.queues]
    with db.transaction():
        for n in range(days):
            day = first + dt.timedelta(days=n)
            start = reports.epoch(day, tz) + 7 * 3600
            db.conn.executemany(
                "INSERT INTO queue_tickets(queue, ticket, zone, day, issued_at, called_at, outcome) VALUES "
                "(?,?,?,?,?,?,?)",
                [(q, f"T{i}", z, day.isoformat(), t, t + rng.uniform(0, 2400), "served")
                 for i in range(tickets) for (q, z) in [queues[i % len(queues)]]
                 for t in [start + rng.uniform(0, 10 * 3600)]])
            db.conn.executemany(
                "INSERT INTO requests(kind, zone, priority, source, state, raised_at, due_at, answered_at) "
                "VALUES (?,?,?,?,?,?,?,?)",
                [(k, "reg_hall", 10, "console", "closed", t, t + 900, t + rng.uniform(0, 1200))
                 for i in range(requests) for k in [("assist", "emergency", "complaint")[i % 3]]
                 for t in [start + rng.uniform(0, 10 * 3600)]])


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    cfg = load_config(env={})
    cfg.var_dir, cfg.hub.http_port = str(tmp), free_port()
    clock = ManualClock(dt.datetime(2026, 1, 1, 9, tzinfo=dt.timezone.utc).timestamp())
    app = create_app(cfg, clock, connect_broker=False, background=False)
    hub = app[CONTEXT].hub
    t0 = time.perf_counter()
    fill(hub, dt.date(2025, 10, 1), 92, args.tickets_per_day, args.requests_per_day)
    print(f"filled 92 days: {92 * args.tickets_per_day} tickets, {92 * args.requests_per_day} requests "
          f"in {time.perf_counter() - t0:.1f} s")
    password = secrets.token_urlsafe(12)
    UserStore(hub.db).upsert("bench", "monitor", password)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", cfg.hub.http_port).start()
    url = f"http://127.0.0.1:{cfg.hub.http_port}"
    lags: list[float] = []
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - t - 0.005)

    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/api/login", json={"username": "bench", "password": password}) as r:
            token = (await r.json())["token"]
        sampler = asyncio.create_task(sample())  # first the machine's own lag, idle, for comparison
        await asyncio.sleep(3)
        stop.set()
        await sampler
        idle, lags[:] = list(lags), []
        stop.clear()
        sampler = asyncio.create_task(sample())
        t0 = time.perf_counter()
        async with s.get(url + "/api/reports?period=quarter&date=2025-11-15",
                         headers={"Authorization": f"Bearer {token}"}) as r:
            body = await r.json()
        took = time.perf_counter() - t0
        stop.set()
        await sampler
    print(f"quarter report: HTTP {r.status}, {len(body['days'])} days, {took:.2f} s; "
          f"service level {body['totals']['service_level']}; event loop: {len(lags)} samples, "
          f"largest lag {max(lags) * 1000:.1f} ms, p99 {sorted(lags)[int(len(lags) * 0.99)] * 1000:.1f} ms "
          f"(idle: largest {max(idle) * 1000:.1f} ms, p99 {sorted(idle)[int(len(idle) * 0.99)] * 1000:.1f} ms)")
    await runner.cleanup()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tickets-per-day", type=int, default=6000)
    p.add_argument("--requests-per-day", type=int, default=300)
    asyncio.run(main(p.parse_args()))
