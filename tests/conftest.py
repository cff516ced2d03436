"""Shared fixtures: real Mosquitto and InfluxDB processes on free loopback ports, data in tmp folders.

Integration tests use these and are marked ``integration``; nothing here fakes a server. Every
process started here is stopped at the end of its scope, whatever the test did.
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import pytest

from floorops.dynsec import DynsecClient
from centre.services import InfluxServer, MosquittoServer, free_port
from tests.sites import new_site_id

if TYPE_CHECKING:
    from centre.launcher import ControlCentre
    from floorops.tls import TlsFiles


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> "TlsFiles":
    """The private CA and server certificate (floorops.tls) the test brokers serve; ``ca_crt`` for clients."""
    from floorops.config import load_config
    from floorops.tls import ensure

    cfg = load_config(env={})
    cfg.var_dir = str(tmp_path_factory.mktemp("tls-var"))
    return ensure(cfg)


@pytest.fixture(scope="session")
def make_broker(tmp_path_factory: pytest.TempPathFactory,
                tls_files: "TlsFiles") -> Iterator[Callable[..., MosquittoServer]]:
    """Factory for brokers a test may stop, restart or kill; all stopped at session end. Each has the
    plain loopback listener (``port``) and the TLS one (``tls_port``, trusting ``tls_files.ca_crt``)."""
    started: list[MosquittoServer] = []

    def make(**kwargs: object) -> MosquittoServer:
        tls_settings = {"tls_port": free_port(), "certfile": str(tls_files.server_crt),
                        "keyfile": str(tls_files.server_key)}
        server = MosquittoServer(
            data_dir=Path(tmp_path_factory.mktemp("mosquitto")),
            port=free_port(),
            admin_username="floorops-admin",
            admin_password=secrets.token_urlsafe(16),
            **{**tls_settings, **kwargs},  # type: ignore[arg-type]  # - the test passes the right keywords
        )
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def broker(make_broker: Callable[..., MosquittoServer]) -> MosquittoServer:
    """One broker shared by the session's tests that do not stop it: a test on it works under a site of its
    own (the ``site_id`` fixture; ``live_cfg`` in tests/hub/conftest.py)."""
    return make_broker()


@pytest.fixture
def site_id() -> str:
    """A site id of this test's own (tests/sites.py): its topics (``hospital/<site>/...``,
    ``floorops/<site>/...``) and hub client ids are its own on the shared ``broker``, so nothing another test
    left there (retained messages, records queued for a hub session) reaches it."""
    return new_site_id()


@pytest.fixture(scope="session")
def dynsec(broker: MosquittoServer) -> Iterator[DynsecClient]:
    client = DynsecClient("127.0.0.1", broker.port, broker.admin_username, broker.admin_password)
    yield client
    client.close()


@pytest.fixture(scope="session")
def make_influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., InfluxServer]]:
    started: list[InfluxServer] = []

    def make(**kwargs: object) -> InfluxServer:
        server = InfluxServer(
            data_dir=Path(tmp_path_factory.mktemp("influxdb")), http_port=free_port(), rpc_port=free_port(),
            **kwargs,  # type: ignore[arg-type]  # - the test passes the right keywords
        )
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def influx(make_influx: Callable[..., InfluxServer]) -> InfluxServer:
    return make_influx()


@pytest.fixture
def influx_db(influx: InfluxServer) -> Iterator[str]:
    """A fresh database on the shared influxd for one test; dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    influx.query(f'CREATE DATABASE "{name}"', method="POST")
    yield name
    influx.query(f'DROP DATABASE "{name}"', method="POST")


@pytest.fixture(scope="session")
def control_centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator["ControlCentre"]:
    """The whole stack (broker, influxd, hub, edge, simulator) in a tmp folder on free ports.

    The same code as ``make run`` (centre.launcher.ControlCentre). Exposes ``hub_url``,
    ``passwords`` (demo users), ``inject(device, fault)``, ``cfg`` and ``runtime_config``.
    """
    from floorops.config import load_config
    from centre.launcher import ControlCentre

    var = Path(tmp_path_factory.mktemp("floorops-var"))
    cfg = load_config(env={})
    cfg.var_dir = str(var)
    cfg.log_format = "json"
    cfg.mqtt.port = free_port()
    cfg.mqtt.tls_port = free_port()
    cfg.influx.url = f"http://127.0.0.1:{free_port()}"
    cfg.influx.rpc_port = free_port()
    cfg.hub.http_port = free_port()
    cfg.edge.metrics_port = free_port()
    cfg.sim.control_port = free_port()
    # No random faults or spoiled messages on this shared stack: none lands on a device a test acts on.
    cfg.sim.faults_per_device_day = cfg.sim.bad_input_per_device_hour = 0.0
    centre = ControlCentre(cfg, bootstrap_models=False)
    centre.start()
    yield centre
    centre.stop()
