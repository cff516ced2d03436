"""A real ``python -m hub`` for the login / WebSocket / HTTP security tests (real broker and influxd)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Iterator

import pytest

from floorops.config import Config
from hub.provisioning import ensure_user
from centre.services import InfluxServer, MosquittoServer
from tests.hub.conftest import HubProcess, make_cfg, provision_services
from tests.sites import own_site

PASSWORDS = {"admin": "admin-pass-1", "monitor": "monitor-pass-1"}


def start_hub(cfg: Config) -> HubProcess:
    for name, pw in PASSWORDS.items():
        ensure_user(cfg, name, name, pw)
    return HubProcess(cfg).start()


def cli(proc: HubProcess, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("FLOOROPS_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "hub", *args, "--config", str(proc.config_path)], input=stdin,
                          capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def real_hub(tmp_path, broker: MosquittoServer, influx: InfluxServer, influx_db: str,
             site_id: str) -> Iterator[HubProcess]:
    """The hub behind a trusted proxy at 127.0.0.1, so a test can play clients at other addresses."""
    live_cfg = make_cfg(tmp_path, broker, influx, influx_db)
    live_cfg.hub.mqtt_username = f"floorops-hub-{os.urandom(3).hex()}"
    own_site(live_cfg, tmp_path, site_id)
    provision_services(live_cfg)
    live_cfg.hub.trusted_proxies = ["127.0.0.1"]
    p = start_hub(live_cfg)
    yield p
    p.stop()
