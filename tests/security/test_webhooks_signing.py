"""Signed webhooks (issue #12 item 6), against a real ``python -m hub`` and a real aiohttp receiver: every
delivery carries Standard Webhooks headers whose signature verifies with the receiver's secret (its own, or
the hub's ``webhook_secret`` from ``secrets.json``); a tampered body or another secret does not verify; a
redelivery after the receiver answered 500 keeps its ``webhook-id`` and is signed again with a fresh
timestamp. The verifier below is the one docs/security.md gives receivers, not the hub's code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiohttp import web

from floorops.config import Config
from floorops.topics import EdgeRecord
from tests.hub.conftest import HubProcess, live_cfg, write_config  # noqa: F401 - pytest fixtures, taken by name
from tests.hub.webhook_receiver import Receiver, Request

pytestmark = pytest.mark.integration


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance_s: int = 300) -> bool:
    """docs/security.md's receiver-side check."""
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > tolerance_s:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest())
    return any(hmac.compare_digest(expected, sig.partition(",")[2].encode())
               for sig in headers["webhook-signature"].split() if sig.startswith("v1,"))


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def raised(requests: list[Request]) -> list[Request]:
    return [r for r in requests if r.json["type"] == "alarm.raised"]


def card_jam(cfg: Config) -> None:
    from tests.hub.test_thin_path import edge_publisher, publish

    pub = edge_publisher(cfg)
    try:
        publish(pub, cfg, EdgeRecord("kiosk-03", "kiosk", "event", int(time.time() * 1000), 1,
                                     {"event": "card_jam"}, zone="reg_hall", site=cfg.site.id))
    finally:
        pub.loop_stop()
        pub.disconnect()


def test_deliveries_are_signed_and_a_redelivery_keeps_its_id(live_cfg: Config) -> None:
    cfg = live_cfg
    own_secret, shared_secret = new_secret(), new_secret()
    answers: dict[str, int] = {}

    async def fail_first(receiver: Receiver, request: Request) -> web.StreamResponse:
        n = answers[request.headers["webhook-id"]] = answers.get(request.headers["webhook-id"], 0) + 1
        return web.Response(status=500 if n == 1 else 204)

    own = Receiver(fail_first).start()
    shared = Receiver().start()
    # The shared secret is stored as the other service secrets are: <var_dir>/secrets.json, mode 600.
    secrets_file = Path(cfg.var_dir) / "secrets.json"
    secrets_file.write_text(json.dumps({"webhook": shared_secret}))
    os.chmod(secrets_file, 0o600)
    cfg.hub.webhooks = [{"url": own.url(), "secret": own_secret}, shared.url()]
    cfg.hub.webhook_backoff_s = 2.5  # the retry comes >= 1.25 s later: a later whole-second timestamp
    proc = HubProcess(cfg).start()
    try:
        card_jam(cfg)
        first, again = own.wait_for(lambda got: len(raised(got)) >= 2 and raised(got)[:2], 30,
                                    "alarm.raised, then its redelivery after a 500")
        other = shared.wait_for(lambda got: raised(got) and raised(got)[0], 30, "alarm.raised (shared secret)")

        for req, secret in ((first, own_secret), (again, own_secret), (other, shared_secret)):
            assert req.headers["webhook-signature"].startswith("v1,")
            assert verify(secret, req.headers, req.body), req.headers
        # The same id, a fresh timestamp, a new signature over the same body.
        assert again.headers["webhook-id"] == first.headers["webhook-id"]
        assert again.body == first.body
        assert int(again.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])
        assert again.headers["webhook-signature"] != first.headers["webhook-signature"]
        # Each receiver's own id (a key per delivery), and nothing verifies with another secret or body.
        assert other.headers["webhook-id"] != first.headers["webhook-id"]
        assert not verify(shared_secret, first.headers, first.body)
        assert not verify(own_secret, other.headers, other.body)
        assert not verify(new_secret(), first.headers, first.body)
        tampered = first.body.replace(b'"card_jam"', b'"card_ok"')
        assert tampered != first.body and not verify(own_secret, first.headers, tampered)
        # An old (replayed) delivery falls outside the receiver's tolerance window.
        assert not verify(own_secret, first.headers, first.body, tolerance_s=-1)
    finally:
        proc.stop()
        own.stop()
        shared.stop()


def test_a_bad_webhook_secret_stops_the_hub_with_a_clear_error(live_cfg: Config) -> None:
    cfg = live_cfg
    cfg.hub.webhooks = ["http://127.0.0.1:9/hook"]
    cfg.hub.webhook_secret = "whsec_" + base64.b64encode(b"short").decode()
    env = {k: v for k, v in os.environ.items() if k != "FLOOROPS_CONFIG"}
    out = subprocess.run([sys.executable, "-m", "hub", "--config", str(write_config(cfg))], capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode != 0
    assert "hub.webhook_secret: use at least 24 random bytes" in out.stderr + out.stdout
