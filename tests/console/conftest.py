"""Browser fixtures for the console: Debian's chromium through Playwright (never a downloaded browser)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from console_fake_hub import FakeHub

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
PHONE = {"width": 390, "height": 844}
WALL = {"width": 1920, "height": 1080}
DESK = {"width": 1600, "height": 1000}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Module-scoped on purpose: Playwright's sync API keeps an event loop running in the main thread while it
    is open, which would break asyncio.run() in other components' tests collected after ours."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class Console:
    """One browser context on the console; collects page errors so a test can assert there were none."""

    def __init__(self, browser: Any, base_url: str, viewport: dict[str, int], **context_args: Any) -> None:
        self.context = browser.new_context(viewport=viewport, base_url=base_url, **context_args)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def login(self, username: str, password: str, lang: str | None = None) -> Any:
        page = self.page
        if lang:
            page.add_init_script(f"localStorage.setItem('floorops.lang', '{lang}')")
        page.goto("/")
        page.get_by_test_id("login-username").fill(username)
        page.get_by_test_id("login-password").fill(password)
        page.get_by_test_id("login-submit").click()
        return page

    def shot(self, artifacts: Path, name: str) -> Path:
        path = artifacts / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_console(chromium: Any) -> Iterator[Callable[..., Console]]:
    opened: list[Console] = []

    def make(base_url: str, viewport: dict[str, int] = DESK, **context_args: Any) -> Console:
        c = Console(chromium, base_url, viewport, **context_args)
        opened.append(c)
        return c

    yield make
    for c in opened:
        errors = list(c.errors)
        c.close()
        assert not errors, f"JavaScript errors in the console: {errors}"


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    hub = FakeHub().start()
    yield hub
    hub.stop()
