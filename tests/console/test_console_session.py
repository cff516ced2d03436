"""The console against a real ``python -m hub``: the CSP breaks nothing, and a session ended elsewhere closes
the console's socket (4001) and brings back the sign-in screen."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from tests.hub.conftest import HubProcess, http
from tests.security.hub_under_test import PASSWORDS, real_hub  # noqa: F401 - pytest fixtures, taken by name

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_logout_elsewhere_signs_the_console_out_under_the_csp(real_hub: HubProcess,
                                                              open_console: Callable[..., Any]) -> None:
    c = open_console(real_hub.url)
    # Every CSP violation, as the browser reports it (a "securitypolicyviolation" event and a console error
    # "Refused to apply inline style ..."). Other console errors are not this test's: on a loaded machine an
    # InfluxDB query may time out and its route answer 503, which the console shows as unavailable.
    c.page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                           "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI))")
    csp_errors: list[str] = []
    c.page.on("console", lambda m: m.type == "error" and "Content Security Policy" in m.text
              and csp_errors.append(m.text))
    page = c.login("monitor", PASSWORDS["monitor"])
    page.wait_for_selector("#conn[data-state=live]", timeout=20_000)
    page.wait_for_selector("[data-testid=tab-operations]", timeout=20_000)
    assert page.evaluate("window.__csp") == [] and not csp_errors, csp_errors
    token = page.evaluate("sessionStorage.getItem('floorops.token')")
    assert token and "token" not in page.evaluate("window.floorops.live.socket.url")
    assert http(real_hub.url + "/api/logout", "POST", token=token)[0] == 200
    page.get_by_test_id("login-username").wait_for(timeout=5_000)  # the hub closed the socket with 4001
    assert page.locator("#topbar").is_hidden()
