"""A real hub process checks a local "hospital system" (a real HTTP server in this test): slowed past the
threshold, system_slow is raised exactly once and cleared after; the response times reach a real InfluxDB
and GET /api/systems."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from centre.services import InfluxServer
from floorops.config import Config, SystemCheck
from floorops.influx import query_sync
from tests.hub.conftest import HubProcess, http, wait_for
from tests.hub.test_thin_path import login


class _System(BaseHTTPRequestHandler):
    delay_s = 0.0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        time.sleep(type(self).delay_s)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.integration
def test_slow_system_raises_system_slow_once_and_clears(live_cfg: Config, influx: InfluxServer) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _System)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = live_cfg
    # The system's own threshold (slow_ms) keeps the test short; the rule's hysteresis scales with it.
    cfg.systems.checks = [SystemCheck(name="his", target=f"http://127.0.0.1:{server.server_port}/health",
                                      interval_s=0.3, timeout_s=5.0, keyword="ok", slow_ms=400.0)]
    from hub import provisioning
    provisioning.ensure_user(cfg, "mon", "monitor", "monitor-pass-1")
    hub = HubProcess(cfg).start()
    try:
        token = login(hub.url, "mon", "monitor-pass-1")

        def system() -> dict[str, Any]:
            status, body = http(hub.url + "/api/systems", token=token)
            assert status == 200, body
            return body[0]

        def slow_alarms() -> list[dict[str, Any]]:
            return [a for a in http(hub.url + "/api/alarms", token=token)[1] if a["type"] == "system_slow"]

        wait_for(lambda: system()["state"] == "up", 20, "the system checked and up")
        _System.delay_s = 0.7
        wait_for(lambda: system()["state"] == "slow", 20, "system_slow raised")
        time.sleep(2.0)  # several more slow checks: still one alarm
        [alarm] = slow_alarms()
        assert (alarm["state"], alarm["source"], alarm["device_id"]) == ("active", "system:his", "")
        _System.delay_s = 0.0
        wait_for(lambda: system()["state"] == "up", 20, "system_slow cleared")
        [alarm] = slow_alarms()
        assert alarm["state"] == "cleared" and alarm["cleared_by"] == "auto"
        body = system()
        assert body["last"]["ok"] and body["last"]["response_ms"] < 400
        assert any(r["response_ms"] >= 700 for r in body["recent"])

        def points() -> list[Any]:
            series = query_sync(influx.url, cfg.influx.database,
                                "SELECT response_ms, ok FROM system_check WHERE \"check\"='his'")
            return series[0]["values"] if series else []
        values = wait_for(points, 20, "system_check points in InfluxDB")
        assert any(v[1] >= 700 for v in values) and all(v[2] is True for v in values)
        status, text = http(hub.url + "/metrics", token=token)
        assert status == 200
        text = text.decode() if isinstance(text, bytes) else str(text)
        assert 'floorops_hub_system_checks_total{result="ok"}' in text
        assert 'floorops_hub_system_response_ms{system="his"}' in text
    finally:
        hub.stop()
        server.shutdown()
