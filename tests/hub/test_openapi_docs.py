"""The OpenAPI document says what the hub answers and accepts: /api/kpis with every field it has (checked against
a day with measured dispatch times), the QR page's phone pattern the same as the server's check, and the pages
people are sent to by address (a zone's QR page, the printable report) in it, the console's own files not."""

from __future__ import annotations

from typing import Any, Iterator

import jsonschema_rs
import pytest

from floorops.config import Config
from hub.clock import ManualClock
from hub.openapi import document
from hub.requests import RequestError, clean_phone
from tests.hub.conftest import http
from tests.hub.live import LiveHub


def schema_of(method: str, path: str, part: str = "response") -> dict[str, Any]:
    op = document()["paths"][path][method]
    if part == "body":
        return op["requestBody"]["content"]["application/json"]["schema"]
    return next(iter(op["responses"].values()))["content"]["application/json"]["schema"]


@pytest.fixture
def live(offline_cfg: Config, clock: ManualClock) -> Iterator[LiveHub]:
    h = LiveHub(offline_cfg, clock).start()
    yield h
    h.stop()


def test_kpis_answer_matches_a_schema_that_names_every_field(live: LiveHub, clock: ManualClock) -> None:
    schema = schema_of("get", "/api/kpis")
    desk, zhang, mon = live.login("desk"), live.login("fm-zhang"), live.login("monitor")
    status, empty = http(live.url + "/api/kpis", token=mon)  # a day with nothing measured: nulls
    assert status == 200
    jsonschema_rs.validate(schema, empty)
    status, req = http(live.url + "/api/requests", "POST", {"kind": "emergency", "zone": "reg_hall"}, token=desk)
    assert status == 201
    status, [offer] = http(live.url + "/api/dispatches?state=offered", token=zhang)
    clock.advance(40)
    assert http(live.url + f"/api/dispatches/{offer['id']}/accept", "POST", token=zhang)[0] == 200
    clock.advance(80)
    assert http(live.url + f"/api/dispatches/{offer['id']}/arrive", "POST", token=zhang)[0] == 200
    status, k = http(live.url + "/api/kpis", token=mon)
    assert status == 200 and k["dispatch_by_shift"]["day"]["time_to_arrive_s"] == 120.0
    jsonschema_rs.validate(schema, k)
    assert set(k) == set(schema["properties"]), "document every /api/kpis field (hub/api/floor.py KPIS)"
    assert set(k["dispatch_by_shift"]) == set(schema["properties"]["dispatch_by_shift"]["properties"])


@pytest.mark.parametrize("phone", ["13800138000", "+8613800138000", "+86 138-0013-8000", "(021) 5555 0101",
                                   " 123456 ", "+ 123456", "12345", "1234567890123456", "+", "86+123456",
                                   "a123456", "123 456 789 012 345 678 901 234 5", "", "+(86)", "１２３４５６７"])
def test_qr_page_phone_pattern_is_what_the_server_accepts(phone: str) -> None:
    """The document's pattern accepts a number exactly when hub.requests.clean_phone does."""
    schema = schema_of("post", "/api/public/requests", "body")["properties"]["phone"]
    try:
        clean_phone(phone)
        accepted = True
    except RequestError:
        accepted = False
    assert jsonschema_rs.is_valid(schema, phone) is accepted, phone


def test_pages_with_an_address_to_print_are_documented(live: LiveHub) -> None:
    """A zone's QR page is in the document as the printable report is; the console's files ("/") are not."""
    paths = document(["reg_hall"])["paths"]
    assert {"/r/{zone}", "/reports/print"} <= set(paths) and "/" not in paths
    op = paths["/r/{zone}"]["get"]
    assert op["security"] == [] and "text/html" in op["responses"]["200"]["content"]
    status, body = http(live.url + "/r/reg_hall", headers={"Accept-Language": "en"})
    assert status == 200 and b"reg_hall" in body
    status, body = http(live.url + "/r/nowhere")
    assert status == 404 and body == {"error": "no such zone: nowhere"}  # as documented: JSON
