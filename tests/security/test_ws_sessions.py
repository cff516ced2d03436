"""WebSocket sessions end with their session, no token in URLs, Origin checked, no leaked subscribers, and
catch-up without silent gaps (issue #12 item 4, issue #13 item 5), against a real ``python -m hub``."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest
import websockets
import websockets.exceptions  # not imported by the package itself: a test run alone needs it

from tests.hub.conftest import HubProcess, http
from tests.security.hub_under_test import PASSWORDS, cli, real_hub  # noqa: F401 - pytest fixtures, taken by name


def _token(hub: HubProcess, user: str = "monitor") -> str:
    status, body = http(hub.url + "/api/login", "POST", {"username": user, "password": PASSWORDS[user]})
    assert status == 200, body
    return body["token"]


def _ws(hub: HubProcess) -> str:
    return hub.url.replace("http://", "ws://") + "/ws"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _closed_within(ws: websockets.ClientConnection, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    except TimeoutError:
        return None
    return None


def test_logout_closes_the_socket_with_4001(real_hub: HubProcess) -> None:
    t = _token(real_hub)

    async def scenario() -> int | None:
        async with websockets.connect(_ws(real_hub), additional_headers=_bearer(t)) as ws:
            assert http(real_hub.url + "/api/logout", "POST", token=t)[0] == 200
            return await _closed_within(ws, 5)

    assert asyncio.run(scenario()) == 4001


def test_a_role_change_from_another_process_closes_the_socket(real_hub: HubProcess) -> None:
    t = _token(real_hub)

    async def scenario() -> int | None:
        async with websockets.connect(_ws(real_hub), additional_headers=_bearer(t)) as ws:
            done = await asyncio.to_thread(cli, real_hub, "users", "add", "monitor", "--role", "maintenance",
                                           stdin="monitor-pass-2\nmonitor-pass-2\n")
            assert done.returncode == 0, done.stderr
            return await _closed_within(ws, 5)

    assert asyncio.run(scenario()) == 4001


def test_no_token_in_the_url_and_a_foreign_origin_is_refused(real_hub: HubProcess) -> None:
    t = _token(real_hub)

    async def scenario() -> None:
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(_ws(real_hub) + f"?token={t}"):
                pass
        assert refused.value.response.status_code == 401
        cookie = {"Cookie": f"floorops_session={t}"}
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(_ws(real_hub), additional_headers=cookie, origin="https://evil.example"):
                pass
        assert refused.value.response.status_code == 403
        async with websockets.connect(_ws(real_hub), additional_headers=cookie,
                                      origin=real_hub.url) as ws:  # the hub's own origin, the session cookie
            await ws.ping()

    asyncio.run(scenario())


def test_a_bad_since_leaks_no_subscriber(real_hub: HubProcess) -> None:
    t = _token(real_hub)

    async def scenario() -> None:
        for bad in ("%C2%B2", "99999999999999999999999", "-1", "nan"):
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                async with websockets.connect(_ws(real_hub) + f"?since={bad}", additional_headers=_bearer(t)):
                    pass
            assert refused.value.response.status_code == 400, bad

    asyncio.run(scenario())
    status, text = http(real_hub.url + "/metrics")
    line = next(x for x in text.decode().splitlines() if x.startswith("floorops_hub_ws_clients"))
    assert float(line.split()[-1]) == 0, line


def _add_events(db: Path, n: int) -> None:
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO events(type, at, data, audience) VALUES ('zone.updated', ?, ?, '')",
                         [(1_763_949_600.0 + i, json.dumps({"id": "lab", "n": i})) for i in range(n)])


def test_7000_missed_events_all_arrive_in_order(real_hub: HubProcess) -> None:
    t = _token(real_hub)
    real_hub.stop()
    db = real_hub.cfg.path(real_hub.cfg.hub.db_path)
    with sqlite3.connect(db) as conn:
        first = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])
    _add_events(db, 7000)  # what a console that was away missed
    real_hub.start()
    t = _token(real_hub)

    async def scenario() -> list[int]:
        ids: list[int] = []
        async with websockets.connect(_ws(real_hub) + f"?since={first}", additional_headers=_bearer(t),
                                      max_queue=None) as ws:
            while len(ids) < 7000:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert msg["type"] != "resync"
                ids.append(msg["id"])
        return ids

    ids = asyncio.run(scenario())
    assert ids[:7000] == list(range(first + 1, first + 7001))


def test_a_pruned_backlog_sends_resync(real_hub: HubProcess) -> None:
    t = _token(real_hub)
    real_hub.stop()
    db = real_hub.cfg.path(real_hub.cfg.hub.db_path)
    _add_events(db, 20)
    with sqlite3.connect(db) as conn:  # the oldest events were pruned (housekeeping keeps the newest only)
        last = int(conn.execute("SELECT MAX(id) FROM events").fetchone()[0])
        conn.execute("DELETE FROM events WHERE id <= ?", (last - 5,))
    real_hub.start()
    t = _token(real_hub)

    async def scenario() -> dict:
        async with websockets.connect(_ws(real_hub) + "?since=1", additional_headers=_bearer(t)) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 10))

    msg = asyncio.run(scenario())
    assert msg["type"] == "resync" and msg["data"]["last_id"] >= last, msg
