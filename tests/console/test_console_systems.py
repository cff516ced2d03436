"""The operations view's "Hospital systems" and "Device reliability" tiles against a real in-process hub
that checks a real local HTTP server, in Debian's chromium: a system slowed past its threshold shows as
slow with its alarm, and as up again once it answers fast."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from playwright.sync_api import expect

from conftest import WALL, Console
from floorops.config import SystemCheck
from tests.hub.conftest import make_cfg
from tests.hub.live import PASSWORDS, LiveHub

pytestmark = [pytest.mark.browser]


class _His(BaseHTTPRequestHandler):
    delay_s = 0.0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        time.sleep(type(self).delay_s)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def checked_hub(tmp_path: Path) -> Iterator[LiveHub]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _His)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = make_cfg(tmp_path)
    cfg.systems.checks = [SystemCheck(name="his", target=f"http://127.0.0.1:{server.server_port}/health",
                                      interval_s=0.3, timeout_s=5.0, slow_ms=400.0)]
    hub = LiveHub(cfg).start()
    yield hub
    hub.stop()
    server.shutdown()
    _His.delay_s = 0.0


def test_systems_tile_shows_a_slow_system_and_its_recovery(checked_hub: LiveHub, open_console: Callable[..., Console],
                                                            artifacts: Path) -> None:
    console = open_console(checked_hub.url, WALL)
    page = console.login("monitor", PASSWORDS["monitor"], lang="en")
    state = page.get_by_test_id("system-state-his")
    expect(state).to_have_text("up", timeout=15000)
    expect(page.get_by_test_id("system-ms-his")).to_contain_text(" s")
    _His.delay_s = 0.7
    expect(state).to_have_text("slow", timeout=15000)
    expect(page.locator('.system[data-system="his"]')).to_contain_text("Hospital system slow")
    console.shot(artifacts, "operations-systems-slow")
    _His.delay_s = 0.0
    expect(state).to_have_text("up", timeout=15000)
    # The reliability tile: this month's daily fault rate as a chart, and the kinds in a table.
    expect(page.get_by_test_id("reliability-chart")).to_be_visible()
    expect(page.get_by_test_id("reliability").locator("tr[data-kind='kiosk']")).to_have_count(1)


def test_systems_tile_in_chinese(checked_hub: LiveHub, open_console: Callable[..., Console]) -> None:
    console = open_console(checked_hub.url, WALL)
    page = console.login("monitor", PASSWORDS["monitor"], lang="zh")
    expect(page.get_by_test_id("system-state-his")).to_have_text("正常", timeout=15000)
    expect(page.get_by_test_id("view-operations")).to_contain_text("医院系统")
    expect(page.get_by_test_id("view-operations")).to_contain_text("设备可靠性")
