"""Hub test fixtures: a configuration in a tmp folder pointing at the session's real broker and influxd,
with the hub's broker account provisioned; a running hub (in-process or as a subprocess)."""

from __future__ import annotations

import json
import os
import secrets
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from floorops.config import Config, dump_toml, load_config
from floorops.dynsec import DynsecClient, service_accounts
from centre.services import InfluxServer, ManagedProcess, MosquittoServer, free_port, wait_until
from hub.clock import ManualClock
from tests.sites import own_site


def make_cfg(tmp: Path, broker: MosquittoServer | None = None, influx: InfluxServer | None = None,
             database: str = "floorops") -> Config:
    cfg = load_config(env={})
    cfg.var_dir = str(tmp)
    cfg.log_format = "json"
    cfg.hub.http_port = free_port()
    cfg.hub.mqtt_password = secrets.token_urlsafe(12)
    cfg.edge.mqtt_password = secrets.token_urlsafe(12)
    cfg.influx.database = database
    cfg.influx.url = influx.url if influx else f"http://127.0.0.1:{free_port()}"
    if broker is not None:
        cfg.mqtt.port = broker.port
        cfg.broker.admin_username = broker.admin_username
        cfg.broker.admin_password = broker.admin_password
    return cfg


def provision_services(cfg: Config, edge_user: str | None = None) -> None:
    """The hub's (and a test edge's) broker accounts, as the launcher makes them: each bound to its client id."""
    with DynsecClient(cfg.mqtt.host, cfg.mqtt.port, cfg.broker.admin_username, cfg.broker.admin_password) as ds:
        for a in service_accounts(cfg, cfg.site.id, supervisor=False):
            if a.username == cfg.edge.mqtt_username and a.username != edge_user:
                continue
            ds.provision_service(a.username, a.password, a.acls, client_id=a.client_id)


@pytest.fixture
def clock() -> ManualClock:
    # 2025-11-24 10:00 Asia/Shanghai, a Monday
    return ManualClock(1_763_949_600.0)


@pytest.fixture
def offline_cfg(tmp_path: Path) -> Config:
    """No servers: for the core and HTTP tests that feed messages by hand."""
    return make_cfg(tmp_path)


@pytest.fixture
def live_cfg(tmp_path: Path, broker: MosquittoServer, influx: InfluxServer, influx_db: str, site_id: str) -> Config:
    """Real broker and influxd; hub and a test edge account provisioned (unique names per test), on a site
    of its own (the ``site_id`` fixture): nothing another test left on the shared broker reaches this one."""
    return make_live_cfg(tmp_path, broker, influx, influx_db, site_id)


def make_live_cfg(tmp: Path, broker: MosquittoServer, influx: InfluxServer, database: str, site_id: str) -> Config:
    """What ``live_cfg`` gives a test (tests/hub/test_isolation.py calls it for tests in a row)."""
    cfg = make_cfg(tmp, broker, influx, database)
    suffix = secrets.token_hex(3)
    cfg.hub.mqtt_username = f"floorops-hub-{suffix}"
    cfg.edge.mqtt_username = f"floorops-edge-{suffix}"
    own_site(cfg, tmp, site_id)
    provision_services(cfg, cfg.edge.mqtt_username)
    return cfg


def write_config(cfg: Config) -> Path:
    path = Path(cfg.var_dir) / "floorops.test.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_toml(cfg))
    return path


class HubProcess:
    """``python -m hub --config FILE`` as a child process."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.config_path = write_config(cfg)
        self.proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.cfg.hub.tls_cert else "http"
        return f"{scheme}://{self.cfg.hub.http_host}:{self.cfg.hub.http_port}"

    @property
    def ssl_context(self) -> "ssl.SSLContext | None":
        """Over HTTPS: a client context trusting the CA the hub's certificate comes from (mqtt.cafile)."""
        return ssl.create_default_context(cafile=self.cfg.mqtt.cafile) if self.cfg.hub.tls_cert else None

    def start(self, wait_healthy: bool = True) -> "HubProcess":
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("FLOOROPS_CONFIG", None)
        self.proc = ManagedProcess("hub", [sys.executable, "-m", "hub", "--config", str(self.config_path)],
                                   Path(self.cfg.var_dir) / "hub.log", env=env).start()
        def healthy() -> bool:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1, context=self.ssl_context) as r:
                    return r.status == 200
            except urllib.error.HTTPError as exc:
                return not wait_healthy and exc.code == 503
        try:
            wait_until(healthy, 30, "hub")
        except Exception:  # noqa: BLE001 - whatever wait_until raised, the hub's log says why
            raise AssertionError(f"hub did not start:\n{self.proc.log_tail()}") from None
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


def http(url: str, method: str = "GET", body: Any = None, token: str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw and r.headers.get_content_type() == "application/json" else raw
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw


@pytest.fixture
def hub_process(live_cfg: Config) -> Iterator[HubProcess]:
    p = HubProcess(live_cfg)
    yield p
    p.stop()


def wait_for(check: Any, timeout_s: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout_s} s")
