"""How fast the console takes live updates: a burst of WebSocket events applied and drawn on the operations view.

Runs Debian's chromium headless against the console's stand-in hub (tests/console/console_fake_hub.py), signed
in as the operations monitor (the busiest view: floor plan, alarms, devices, KPIs all re-render on events).

Figures:
  * burst: N mixed events (zone.updated, device.updated, alarm.raised/updated) published back to back; time until
    the console has applied all of them (window.floorops.store.applied) and the browser is idle again.
  * reference, same run, same browser: the same burst received by a bare WebSocket in an empty page that only
    counts messages, i.e. what the browser and the hub's socket cost without the console.
  * alarm to screen: one critical alarm.raised published, time until its card is in the DOM (median of R), with
    the alarms of the burst (300 active) on screen; reference:
    the same message reaching the bare page's counter.

    .venv/bin/python bench/console_live_updates.py [--events 3000] [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "console"))

from console_fake_hub import FakeHub
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]

RAW_COUNTER = """
async ([url]) => {
  window.__count = 0;
  await new Promise((ok, fail) => {
    const ws = new WebSocket(url);
    ws.onmessage = () => { window.__count += 1; };
    ws.onopen = ok; ws.onerror = fail;
    window.__ws = ws;
  });
}
"""


def burst(hub: FakeHub, n: int) -> None:
    """n events, published back to back on the hub's loop (a realistic mix of what the hub sends)."""
    devices = list(hub.devices.values())
    zones = list(hub.zones.values())

    async def run() -> None:
        for k in range(n):
            r = k % 10
            if r < 5:
                z = zones[k % len(zones)]
                z.update(occupancy=(k * 7) % z["capacity"], waiting=k % 40,
                         level=("normal", "busy", "crowded")[k % 3])
                await hub._publish("zone.updated", dict(z))
            elif r < 9:
                d = devices[k % len(devices)]
                d.update(state=("online", "offline", "fault")[k % 3])
                await hub._publish("device.updated", dict(d))
            else:
                alarm_id = 100_000 + k
                await hub._publish("alarm.raised", {"id": alarm_id, "type": "card_jam", "severity": "major",
                                                    "source": "kiosk-01", "zone": "reg_hall", "state": "active",
                                                    "raised_at": "2026-11-23T10:00:00+00:00", "count": 1})
    hub.call(run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    hub = FakeHub().start()
    results: dict[str, Any] = {"events": args.events}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            # Reference: a bare WebSocket counting messages.
            ref = browser.new_context().new_page()
            ref.goto(hub.url + "/favicon.svg")
            token = next(iter(hub.tokens), None)
            if token is None:
                import urllib.request
                req = urllib.request.Request(hub.url + "/api/login", method="POST",
                                             data=json.dumps({"username": "monitor", "password": "monitor-pw"}).encode())
                req.add_header("Content-Type", "application/json")
                token = json.loads(urllib.request.urlopen(req).read())["token"]
            ref.evaluate(RAW_COUNTER, [hub.url.replace("http", "ws") + f"/ws?token={token}"])
            t0 = time.perf_counter()
            burst(hub, args.events)
            ref.wait_for_function(f"window.__count >= {args.events}", timeout=120_000)
            results["reference_bare_websocket_s"] = time.perf_counter() - t0
            ref_latencies = []
            for k in range(args.repeats):
                seen = ref.evaluate("window.__count")
                t0 = time.perf_counter()
                hub.publish("alarm.raised", {"id": 800_000 + k, "type": "paper_out", "severity": "minor",
                                             "source": "kiosk-02", "zone": "reg_hall", "state": "active",
                                             "raised_at": "2026-11-23T10:00:00+00:00", "count": 1})
                ref.wait_for_function(f"window.__count > {seen}", timeout=10_000)
                ref_latencies.append(time.perf_counter() - t0)
            results["reference_message_to_page_median_ms"] = statistics.median(ref_latencies) * 1000
            ref.evaluate("window.__ws.close()")
            # The console's operations view.
            page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
            page.goto(hub.url + "/")
            page.get_by_test_id("login-username").fill("monitor")
            page.get_by_test_id("login-password").fill("monitor-pw")
            page.get_by_test_id("login-submit").click()
            page.wait_for_selector("[data-testid=view-operations]")
            page.wait_for_function("window.floorops && window.floorops.live.state === 'live'")
            page.wait_for_timeout(1000)
            base = page.evaluate("window.floorops.store.applied")
            t0 = time.perf_counter()
            burst(hub, args.events)
            page.wait_for_function(f"window.floorops.store.applied >= {base + args.events}", timeout=300_000)
            page.evaluate("() => new Promise((ok) => requestAnimationFrame(() => setTimeout(ok, 0)))")
            results["console_burst_s"] = time.perf_counter() - t0
            # One alarm to its card on screen.
            latencies = []
            for k in range(args.repeats):
                alarm_id = 900_000 + k
                t0 = time.perf_counter()
                hub.publish("alarm.raised", {"id": alarm_id, "type": "charger_over_temperature", "severity": "critical",
                                             "source": "kiosk-02", "zone": "reg_hall", "state": "active",
                                             "raised_at": "2026-11-23T10:00:00+00:00", "count": 1})
                page.wait_for_selector(f'[data-alarm-id="{alarm_id}"]', state="attached", timeout=10_000)
                latencies.append(time.perf_counter() - t0)
            results["alarm_to_dom_median_ms"] = statistics.median(latencies) * 1000
            results["alarm_to_dom_max_ms"] = max(latencies) * 1000
            browser.close()
    finally:
        hub.stop()
    n = args.events
    results["console_events_per_s"] = n / results["console_burst_s"]
    results["reference_events_per_s"] = n / results["reference_bare_websocket_s"]
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
