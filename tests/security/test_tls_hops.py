"""TLS on every hop (issue #12 item 2) and private var/ (item 7), against real mosquitto and a real hub.

- a simulated device (the real ``python -m firmware_sim run``) publishes over the TLS port with the CA,
  with no plain port to fall back on, and its message arrives;
- a client without the CA, one naming another host, and plain MQTT to the TLS port are all refused;
- the plain listener of the docker-compose broker configuration answers on 127.0.0.1 only;
- the hub over HTTPS sets a Secure session cookie;
- everything ``make run`` writes under var/ is its owner's only, and older files are fixed at start.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import paho.mqtt.client as mqtt
import pytest

from floorops import topics
from floorops.config import Config, dump_toml
from floorops.dynsec import DynsecClient, edge_acls, new_password
from floorops.mqtt_client import Endpoint, configure
from centre.services import ManagedProcess, MosquittoServer, ServiceError, dynsec_plugin_path, free_port, tcp_open
from floorops.tls import TlsFiles
from floorops.varperms import secure_var
from tests.hub.conftest import HubProcess, make_cfg, provision_services
from tests.security.hub_under_test import PASSWORDS, start_hub
from tests.sites import own_site

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def tls_broker(make_broker: Callable[..., MosquittoServer]) -> Iterator[MosquittoServer]:
    server = make_broker()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(tls_broker: MosquittoServer) -> Iterator[DynsecClient]:
    with DynsecClient("127.0.0.1", tls_broker.port, tls_broker.admin_username, tls_broker.admin_password) as ds:
        yield ds


def _reader(port: int, admin: DynsecClient, topic: str) -> tuple[mqtt.Client, list[mqtt.MQTTMessage]]:
    """An edge-like account on the plain loopback listener, collecting ``topic``."""
    name, pw = f"tls-reader-{uuid.uuid4().hex[:8]}", new_password()
    admin.provision_service(name, pw, edge_acls("demo"))
    got: list[mqtt.MQTTMessage] = []
    subscribed = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)
    c.username_pw_set(name, pw)
    c.on_connect = lambda cl, *a: cl.subscribe(topic, qos=1)
    c.on_subscribe = lambda *a: subscribed.set()
    c.on_message = lambda cl, u, msg: got.append(msg)
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert subscribed.wait(10)
    return c, got


def _try_connect(ep: Endpoint, username: str, password: str, context: ssl.SSLContext | None = None,
                 wait_s: float = 3.0) -> tuple[bool, str]:
    """(connected, error) for one MQTT CONNECT attempt."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username)  # accounts are bound to their id
    if context is not None:
        c.username_pw_set(username, password)
        c.tls_set_context(context)
    else:
        configure(c, ep, username, password)
    ok = threading.Event()
    c.on_connect = lambda cl, u, f, rc, p=None: ok.set() if not rc.is_failure else None
    try:
        c.connect(ep.host, ep.port, keepalive=10)
    except (ssl.SSLError, OSError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    c.loop_start()
    try:
        return ok.wait(wait_s), ""
    finally:
        c.loop_stop()
        c.disconnect()


def test_simulated_device_publishes_over_tls_and_the_message_arrives(
        tmp_path: Path, tls_broker: MosquittoServer, admin: DynsecClient, tls_files: TlsFiles) -> None:
    creds = admin.provision_device("demo", "kiosk", "kiosk-01")
    cfg = Config(var_dir=str(tmp_path))
    cfg.mqtt.port = free_port()  # nothing listens there: the device can only arrive over TLS
    cfg.mqtt.tls_port = tls_broker.tls_port
    cfg.mqtt.cafile = str(tls_files.ca_crt)
    cfg.sim.control_port = free_port()
    cfg.sim.faults_per_device_day = cfg.sim.bad_input_per_device_hour = 0.0
    cred_path = cfg.path(cfg.hub.credentials_file)
    cred_path.write_text(json.dumps({"kiosk-01": {
        "id": "kiosk-01", "mqtt_username": creds.username, "mqtt_password": creds.password,
        "topic_prefix": topics.device_topic_prefix("demo", "kiosk", "kiosk-01")}}))
    conf = tmp_path / "floorops.toml"
    conf.write_text(dump_toml(cfg))
    reader, got = _reader(tls_broker.port, admin, "hospital/demo/kiosk/kiosk-01/#")
    proc = subprocess.Popen([sys.executable, "-m", "firmware_sim", "run", "--config", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                m.topic.endswith("/status") and b'"online"' in m.payload for m in got):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        assert any(m.topic == "hospital/demo/kiosk/kiosk-01/status" and b'"online"' in m.payload for m in got)
    finally:
        proc.terminate()
        proc.wait(20)
        reader.loop_stop()
        reader.disconnect()
    log = tls_broker.process.log_path.read_text() if tls_broker.process else ""
    assert "as kiosk-01" in log  # the broker saw the device connect (on the TLS port: no other is open to it)


def test_clients_without_the_ca_or_without_tls_are_refused(
        tls_broker: MosquittoServer, admin: DynsecClient, tls_files: TlsFiles) -> None:
    name, pw = f"tls-probe-{uuid.uuid4().hex[:8]}", new_password()
    admin.provision_service(name, pw, edge_acls("demo"))
    with_ca = Endpoint("127.0.0.1", tls_broker.tls_port, str(tls_files.ca_crt))
    assert _try_connect(with_ca, name, pw) == (True, "")  # the same account, done right, gets in
    # The system's CAs do not know the private CA: the broker's certificate is rejected.
    connected, error = _try_connect(with_ca, name, pw, context=ssl.create_default_context())
    assert not connected and "CERTIFICATE_VERIFY_FAILED" in error
    # The right CA but another name than the certificate's (127.0.0.2 is not in its SANs).
    connected, error = _try_connect(Endpoint("127.0.0.2", tls_broker.tls_port, str(tls_files.ca_crt)), name, pw)
    assert not connected and "CERTIFICATE_VERIFY_FAILED" in error
    # Plain MQTT to the TLS port: no CONNACK, ever.
    connected, _ = _try_connect(Endpoint("127.0.0.1", tls_broker.tls_port), name, pw)
    assert not connected


def test_plain_listener_is_loopback_only(tmp_path: Path, tls_files: TlsFiles) -> None:
    """The docker-compose broker configuration (centre.deploy broker-files), run for real: plain MQTT
    answers on 127.0.0.1 only; another address of this machine (127.0.0.2) reaches the TLS port alone."""
    with pytest.raises(ServiceError, match="loopback"):
        MosquittoServer(tmp_path / "lan", port=free_port(), admin_username="a", admin_password="b",
                        host="0.0.0.0").write_config()
    data, plain, tls_port = tmp_path / "broker", free_port(), free_port()
    env = dict(os.environ, FLOOROPS_BROKER__ADMIN_PASSWORD=new_password())
    env.pop("FLOOROPS_CONFIG", None)
    subprocess.run([sys.executable, "-m", "centre.deploy", "broker-files", "--dir", str(data),
                    "--broker-dir", str(data), "--port", str(plain), "--tls-port", str(tls_port),
                    "--tls-dir", str(tls_files.dir), "--plugin", dynsec_plugin_path(),
                    "--user", pwd.getpwuid(os.geteuid()).pw_name, "--owner", ""],
                   check=True, capture_output=True, text=True, env=env, timeout=60)
    proc = ManagedProcess("mosquitto", ["mosquitto", "-c", str(data / "mosquitto.conf")],
                          data / "mosquitto.log").start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (tcp_open("127.0.0.1", plain) and tcp_open("127.0.0.1", tls_port)):
            time.sleep(0.05)
        assert tcp_open("127.0.0.1", plain), proc.log_tail()
        assert not tcp_open("127.0.0.2", plain)
        assert tcp_open("127.0.0.2", tls_port)
        ctx = ssl.create_default_context(cafile=str(tls_files.ca_crt))
        with socket.create_connection(("127.0.0.2", tls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                assert s.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        proc.stop()


def test_hub_over_https_sets_a_secure_cookie(tmp_path: Path, broker: MosquittoServer, influx: Any, influx_db: str,
                                             tls_files: TlsFiles, site_id: str) -> None:
    cfg = make_cfg(tmp_path, broker, influx, influx_db)
    cfg.hub.mqtt_username = f"floorops-hub-{os.urandom(3).hex()}"
    own_site(cfg, tmp_path, site_id)
    cfg.hub.tls_cert, cfg.hub.tls_key = str(tls_files.server_crt), str(tls_files.server_key)
    cfg.mqtt.cafile = str(tls_files.ca_crt)
    provision_services(cfg)
    hub: HubProcess = start_hub(cfg)
    try:
        assert hub.url.startswith("https://")
        body = json.dumps({"username": "monitor", "password": PASSWORDS["monitor"]}).encode()
        req = urllib.request.Request(hub.url + "/api/login", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=15, context=hub.ssl_context) as r:
            cookie = r.headers["Set-Cookie"]
        assert r.status == 200 and "Secure" in cookie and "HttpOnly" in cookie
        # Plain HTTP to the HTTPS port gets nowhere.
        with pytest.raises(OSError):
            urllib.request.urlopen(hub.url.replace("https://", "http://") + "/healthz", timeout=5)
    finally:
        hub.stop()


def _leaky(var: Path) -> list[str]:
    """Paths under var/ that someone other than the owner may read, write or enter."""
    out = []
    for root, _dirs, files in os.walk(var):
        for p in [root, *(os.path.join(root, f) for f in files)]:
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                continue
            if stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) != 0o700:
                out.append(f"{p} {oct(stat.S_IMODE(st.st_mode))}")
            elif stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
                out.append(f"{p} {oct(stat.S_IMODE(st.st_mode))}")
    return out


def test_everything_make_run_writes_under_var_is_private(control_centre: Any) -> None:
    var = Path(control_centre.cfg.var_dir)
    for must in ("hub/hub.sqlite", "secrets.json", "tls/server.key", "mosquitto/mosquitto.conf", "logs/hub.log"):
        assert (var / must).exists(), must
    assert _leaky(var) == []


def test_older_files_are_made_private_and_links_left_alone(tmp_path: Path) -> None:
    var, outside = tmp_path / "var", tmp_path / "outside.txt"
    (var / "hub").mkdir(parents=True)
    (var / "hub" / "hub.sqlite").write_text("x")
    os.chmod(var / "hub" / "hub.sqlite", 0o644)
    os.chmod(var / "hub", 0o755)
    outside.write_text("not ours")
    os.chmod(outside, 0o644)
    (var / "hub" / "serial-line").symlink_to(outside)  # like the simulator's links to /dev/pts
    old = os.umask(0o022)
    try:
        assert secure_var(var) >= 2
        assert _leaky(var) == []
        assert stat.S_IMODE(outside.stat().st_mode) == 0o644
        (var / "new.json").write_text("{}")  # written after: the umask makes it private
        assert stat.S_IMODE((var / "new.json").stat().st_mode) == 0o600
    finally:
        os.umask(old)
