"""docker-compose.yml checked as far as a machine without a Docker engine can: its YAML, its services,
images and ports, that its environment is a valid FloorOps configuration, and the files it builds from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from floorops.config import REPO_ROOT, load_config
from floorops.deploy import main as deploy_main

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
    assert f"{cfg.mqtt.port}:{cfg.mqtt.port}" in services["mosquitto"]["ports"]
    assert cfg.influx.url == "http://influxdb:8086"
    assert "127.0.0.1:8086:8086" in services["influxdb"]["ports"]


def test_every_environment_key_is_a_real_setting(compose: dict) -> None:
    for service in compose["services"].values():
        env = service.get("environment", {})
        if not isinstance(env, dict):
            continue
        floorops_env = {k: "1" if "${" in str(v) else str(v) for k, v in env.items() if k.startswith("FLOOROPS_")}
        load_config(env=floorops_env)  # raises ConfigError on an unknown key or a wrong type


def test_dockerfile_copies_what_exists() -> None:
    for src in re.findall(r"^COPY (\S+)", (REPO_ROOT / "Dockerfile").read_text(), re.M):
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
    assert "user mosquitto" in conf and "listener 1883 0.0.0.0" in conf
    assert (tmp_path / "dynamic-security.json").stat().st_mode & 0o077 == 0
