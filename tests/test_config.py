"""Configuration: defaults, the TOML file, environment overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from floorops.config import ConfigError, _coerce, dump_toml, load_config
from floorops.site import SiteError, load_site, parse_site


def test_file_then_environment_override_defaults(tmp_path: Path) -> None:
    f = tmp_path / "f.toml"
    f.write_text('var_dir = "/srv/floorops"\n[hub]\nhttp_port = 9000\n[mqtt]\nport = 1999\n')
    cfg = load_config(f, env={"FLOOROPS_HUB__HTTP_PORT": "9090", "FLOOROPS_EDGE__BATCH_MAX_DELAY_S": "0.25"})
    assert cfg.hub.http_port == 9090
    assert cfg.mqtt.port == 1999
    assert cfg.edge.batch_max_delay_s == 0.25
    assert cfg.path("hub/hub.sqlite") == Path("/srv/floorops/hub/hub.sqlite")
    assert cfg.path("/abs/x") == Path("/abs/x")


def test_round_trip_through_toml(tmp_path: Path) -> None:
    cfg = load_config(env={"FLOOROPS_SIM__SEED": "7"})
    f = tmp_path / "again.toml"
    f.write_text(dump_toml(cfg))
    assert load_config(f, env={}) == cfg


@pytest.mark.parametrize(
    "text, message",
    [
        ("[hub]\nhttp_port = 'eighty'\n", "hub.http_port: expected an integer"),
        ("[hub]\nno_such_key = 1\n", "hub.no_such_key: unknown setting"),
        ("[hub\n", "f.toml"),
    ],
)
def test_bad_configuration_is_named(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "f.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(f, env={})


def test_table_settings_from_the_environment_as_json() -> None:
    cfg = load_config(env={"FLOOROPS_EDGE__SERIAL_PROBES": '[{"path": "/dev/ttyUSB0", "baud": 115200}]'})
    assert cfg.edge.serial_probes == [{"path": "/dev/ttyUSB0", "baud": 115200}]
    with pytest.raises(ConfigError, match=r"edge\.serial_probes: expected a JSON list"):
        load_config(env={"FLOOROPS_EDGE__SERIAL_PROBES": "[{path: 1}]"})
    # No setting is a table today; the rule for one stays (a JSON object from the environment).
    assert _coerce('{"lab": 1.1}', dict[str, float], "edge.x") == {"lab": 1.1}
    for bad, message in (("{lab: 1.1}", "expected a JSON object"), ("[1, 2]", "expected a table")):
        with pytest.raises(ConfigError, match=f"edge.x: {message}"):
            _coerce(bad, dict[str, float], "edge.x")


def test_the_edge_points_to_a_calibration_file_the_repository_ships() -> None:
    cfg = load_config(env={})
    assert Path(cfg.path(cfg.edge.occupancy_calibration)).is_file()


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.toml", env={})


def test_demo_site_has_the_inventory_the_hospital_asked_for() -> None:
    site = load_site(load_config(env={}).site.file)
    kinds = [d.kind for d in site.devices]
    assert len(site.zones) >= 12
    assert kinds.count("queue_screen") == 20 and kinds.count("kiosk") == 15
    assert kinds.count("wifi_probe") == 16 and kinds.count("charger") == 6
    assert {d.transport for d in site.devices_of("wifi_probe")} == {"mqtt", "serial"}
    assert all(4 <= d.slots <= 8 for d in site.devices_of("charger"))


def test_site_errors_name_the_entry() -> None:
    base = {"site": {"id": "x", "name": "X", "timezone": "Asia/Shanghai"},
            "zones": [{"id": "a", "name": "A", "kind": "clinic", "capacity": 10}]}
    parse_site(base)
    bad = dict(base, devices=[{"id": "k1", "kind": "kiosk", "zone": "nowhere"}])
    with pytest.raises(SiteError, match="device k1: unknown zone 'nowhere'"):
        parse_site(bad)
    with pytest.raises(SiteError, match="unknown time zone"):
        parse_site({"site": {"id": "x", "name": "X", "timezone": "Mars/Olympus"}})


def test_config_command_prints_the_effective_config_without_secrets(monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from floorops.__main__ import main

    monkeypatch.setenv("FLOOROPS_HUB__MQTT_PASSWORD", "do-not-print-me")
    monkeypatch.setenv("FLOOROPS_HUB__HTTP_PORT", "9191")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "http_port = 9191" in out
    assert "do-not-print-me" not in out and 'mqtt_password = "***"' in out


def test_empty_passwords_come_from_the_secrets_file(tmp_path: Path) -> None:
    (tmp_path / "secrets.json").write_text('{"broker_admin": "adm", "edge": "edg", "hub": "hb", "users": {}}')
    cfg = load_config(env={"FLOOROPS_VAR_DIR": str(tmp_path), "FLOOROPS_HUB__MQTT_PASSWORD": "explicit"})
    assert (cfg.broker.admin_password, cfg.edge.mqtt_password, cfg.hub.mqtt_password) == ("adm", "edg", "explicit")


def test_every_setting_is_documented() -> None:
    import dataclasses

    from floorops.config import REPO_ROOT, Config

    doc = (REPO_ROOT / "docs" / "configuration.md").read_text()
    missing = []
    for f in dataclasses.fields(Config):
        section = getattr(Config(), f.name)
        if dataclasses.is_dataclass(section):
            if f"## `[{f.name}]`" not in doc:
                missing.append(f"[{f.name}]")
            missing += [f"{f.name}.{k.name}" for k in dataclasses.fields(section) if f"`{k.name}`" not in doc]
        elif f"`{f.name}`" not in doc:
            missing.append(f.name)
    assert missing == [], f"undocumented settings: {missing}"
