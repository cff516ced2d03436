"""docker-compose.yml checked as far as a machine without a Docker engine can: its YAML, its services,
images and ports, that its environment is a valid FloorOps configuration, and the files it builds from."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from floorops.config import REPO_ROOT, load_config
from centre.deploy import main as deploy_main

COMPOSE = REPO_ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_services_and_images(compose: dict) -> None:
    services = compose["services"]
    assert {"mosquitto", "influxdb", "hub", "edge", "console", "simulator"} <= set(services)
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:2.")
    assert re.match(r"influxdb:1\.\d+", services["influxdb"]["image"])  # 1.x API: 1.8 serves it natively
    assert services["simulator"]["profiles"] == ["simulator"]
    for name in ("hub", "edge", "simulator", "broker-files", "broker-accounts"):
        assert services[name]["image"].startswith("floorops:")


def test_ports_match_the_configuration(compose: dict) -> None:
    services = compose["services"]
    env = {k: str(v) for k, v in services["hub"]["environment"].items() if "${" not in str(v)}
    cfg = load_config(env=env)
    assert f"127.0.0.1:{cfg.hub.http_port}:{cfg.hub.http_port}" in services["hub"]["ports"]
    # MQTT over TLS only: the plain port is not published (it is bound to the container's loopback).
    assert services["mosquitto"]["ports"] == [f"{cfg.mqtt.tls_port}:{cfg.mqtt.tls_port}"]
    assert cfg.mqtt.tls and cfg.mqtt.tls_port == 8883
    assert cfg.influx.url == "http://influxdb:8086"
    assert "127.0.0.1:8086:8086" in services["influxdb"]["ports"]


def test_every_environment_key_is_a_real_setting(compose: dict) -> None:
    for service in compose["services"].values():
        env = service.get("environment", {})
        if not isinstance(env, dict):
            continue
        floorops_env = {k: "1" if "${" in str(v) else str(v) for k, v in env.items() if k.startswith("FLOOROPS_")}
        load_config(env=floorops_env)  # raises ConfigError on an unknown key or a wrong type


def test_dockerfile_copies_what_exists(compose: dict) -> None:
    builds = {(s["build"]["context"], s["build"]["dockerfile"]) for s in compose["services"].values() if "build" in s}
    assert builds == {(".", "deploy/Dockerfile")}, builds
    for src in re.findall(r"^COPY (\S+)", (REPO_ROOT / "deploy" / "Dockerfile").read_text(), re.M):
        assert (REPO_ROOT / src).exists(), src


def test_broker_files_for_the_broker_container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOOROPS_BROKER__ADMIN_PASSWORD", "s3cret-admin")
    import os

    owner = f"{os.getuid()}:{os.getgid()}"
    assert deploy_main(["broker-files", "--dir", str(tmp_path), "--owner", owner]) == 0
    conf = (tmp_path / "mosquitto.conf").read_text()
    assert "plugin /usr/lib/mosquitto_dynamic_security.so" in conf
    assert "plugin_opt_config_file /mosquitto/data/dynamic-security.json" in conf
    assert "persistence_location /mosquitto/data/" in conf
    assert "user mosquitto" in conf and "listener 1883 127.0.0.1\n" in conf
    assert "listener 8883\ncertfile /mosquitto/tls/server.crt\nkeyfile /mosquitto/tls/server.key\n" in conf
    assert (tmp_path / "dynamic-security.json").stat().st_mode & 0o077 == 0


ONE_SHOT = {"tls-files", "broker-files", "broker-accounts"}


def test_every_service_has_a_healthcheck(compose: dict) -> None:
    for name, service in compose["services"].items():
        check = service.get("healthcheck", {})
        if name in ONE_SHOT:
            assert service["restart"] == "no" and check == {"disable": True}, name
            continue
        test = check.get("test")
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
        assert check.get("retries", 0) >= 1 and check.get("interval"), name


def _env(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in service.get("environment", {}).items() if "${" not in str(v)}


def test_every_mqtt_client_uses_tls_with_the_ca_of_the_tls_volume(compose: dict) -> None:
    services = compose["services"]
    names_env = services["tls-files"]["environment"]["FLOOROPS_TLS__EXTRA_NAMES"]
    issued = load_config(env={"FLOOROPS_TLS__EXTRA_NAMES": names_env.replace("${FLOOROPS_TLS_NAMES:-}", "")})
    tls_dir = services["tls-files"]["environment"]["FLOOROPS_TLS__DIR"]
    for name in ("hub", "edge", "simulator", "broker-accounts"):
        cfg = load_config(env=_env(services[name]))
        assert cfg.mqtt.tls and cfg.mqtt.port != cfg.mqtt.tls_port, name
        assert cfg.mqtt.host in issued.tls.extra_names, name  # the certificate names the host clients check
        ca_dir = str(Path(cfg.mqtt.cafile).parent)
        assert f"tls:{ca_dir}:ro" in services[name]["volumes"], name
    assert f"tls:{tls_dir}" in services["tls-files"]["volumes"]
    assert "tls:/mosquitto/tls:ro" in services["mosquitto"]["volumes"]
    assert "--tls-dir" in services["broker-files"]["command"]


def test_console_terminates_tls_in_front_of_the_hub(compose: dict) -> None:
    console = compose["services"]["console"]
    assert "443:443" in console["ports"]
    conf_mount = next(v for v in console["volumes"] if v.endswith(":/etc/nginx/conf.d/default.conf:ro"))
    conf = (REPO_ROOT / conf_mount.split(":")[0]).read_text()
    assert "tls:/etc/nginx/tls:ro" in console["volumes"]
    assert "listen 443 ssl" in conf and "ssl_certificate     /etc/nginx/tls/server.crt" in conf
    assert "proxy_set_header X-Forwarded-Proto https" in conf and "http://hub:8080" in conf
    assert "return 301 https://" in conf  # port 80 serves nothing but the redirect
    hub = compose["services"]["hub"]
    assert load_config(env=_env(hub)).hub.cookie_secure == "always"


@pytest.mark.skipif(not shutil.which("nginx"), reason="nginx is not installed (Debian package nginx-light)")
def test_nginx_accepts_the_console_configuration(tmp_path: Path) -> None:
    """``nginx -t`` on deploy/nginx/floorops.conf with certificates issued by floorops.tls, as the
    ``tls-files`` step issues them (only the certificates' folder differs from the container's)."""
    from floorops.tls import ensure

    cfg = load_config(env={"FLOOROPS_TLS__EXTRA_NAMES": "hub"})
    cfg.var_dir = str(tmp_path)
    files = ensure(cfg)
    site = (REPO_ROOT / "deploy" / "nginx" / "floorops.conf").read_text().replace("/etc/nginx/tls/", f"{files.dir}/")
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ access_log off; include {tmp_path}/site.conf; }}\n")
    out = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                          "-e", str(tmp_path / "error.log")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "test is successful" in out.stderr, out.stderr
