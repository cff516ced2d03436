"""Device kinds have one home (floorops/kinds/): each kind is one declaration in a module of its own, and
every list of kinds is derived from a registry of them, so a new kind is one declaration (and that kind's
own modules), not an edit of seven lists. A site's own kinds are plugin modules named in the config."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from floorops.config import load_config
from floorops.contract import ContractError
from floorops.topics import parse_device_topic
from floorops.kinds import BUILTIN, DeviceKind, KindError, KindRegistry, from_plugins
from floorops.measurements import influx_lines
from floorops.messages import DeviceMessage
from floorops.site import SiteError, load_site, site_of
from hub import views
from hub.clock import ManualClock
from hub.rules.config import RulesError, rules_schema, validate_rules
from tests.hub.helpers import make_hub

REPO = Path(__file__).resolve().parents[1]

THERMOMETER = '''
from floorops.contract import number
from floorops.influx import line
from floorops.kinds import DeviceKind


def telemetry(p):
    return {"temp_c": number(p, "temp_c", -40, 85)}


def lines(msg, tags, t):
    return [line("fridge_temperature", tags, {"temp_c": msg.data["temp_c"], "seq": msg.seq}, t)]


KIND = DeviceKind("fridge_thermometer", ("mqtt",), lines, history_measurement="fridge_temperature",
                  offline_after_s=300.0, validators={"telemetry": telemetry}, readings=("temp_c",))
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kind declared by this test alone, importable as a module (a name no other test uses)."""
    name = f"kind_plugin_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(THERMOMETER, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_the_console_gets_the_kinds_from_the_hub_in_their_declared_order(tmp_path: Path) -> None:
    cfg = load_config(env={})
    cfg.var_dir = str(tmp_path)
    hub = make_hub(cfg, ManualClock(1_800_000_000.0))
    kinds = views.site_json(hub.site)["device_kinds"]
    assert [k["name"] for k in kinds] == list(BUILTIN.names)
    by_name = {k["name"]: k for k in kinds}
    assert by_name["wifi_probe"]["transports"] == ["mqtt", "serial"]
    assert by_name["kiosk"]["readings"][0] == "resp_ms" and by_name["kiosk"]["offline_after_s"] == 180.0


def test_the_rules_and_the_device_contract_take_their_kinds_from_the_declaration() -> None:
    timeouts = rules_schema()["properties"]["rules"]["properties"]["device_offline"]["properties"]["timeout_s"]
    assert sorted(timeouts["properties"]) == sorted(BUILTIN.names)
    defaults = validate_rules({})["rules"]["device_offline"]["timeout_s"]
    assert defaults == {k.name: k.offline_after_s for k in BUILTIN}
    assert BUILTIN.mqtt_names == tuple(k.name for k in BUILTIN if "mqtt" in k.transports)
    for kind in BUILTIN.names:
        topic = f"hospital/demo/{kind}/x-1/telemetry"
        if kind in BUILTIN.mqtt_names:
            assert parse_device_topic(topic, BUILTIN.mqtt_names).kind == kind
        else:
            with pytest.raises(ContractError):
                parse_device_topic(topic, BUILTIN.mqtt_names)


def test_a_plugin_kind_is_validated_stored_and_given_rule_defaults(plugin: str) -> None:
    kinds = from_plugins([plugin])
    assert kinds.names == (*BUILTIN.names, "fridge_thermometer")
    topic, data = kinds.validate_message("hospital/demo/fridge_thermometer/fr-1/telemetry",
                                         b'{"v":1,"ts":1763884800000,"seq":3,"temp_c":4.5,"extra":1}')
    assert (topic.kind, data) == ("fridge_thermometer", {"v": 1, "ts": 1763884800000, "seq": 3, "temp_c": 4.5})
    with pytest.raises(ContractError) as bad:
        kinds.validate_message("hospital/demo/fridge_thermometer/fr-1/telemetry",
                               b'{"v":1,"ts":1763884800000,"seq":3,"temp_c":400}')
    assert bad.value.reason == "out_of_range"
    with pytest.raises(ContractError):  # the built-in registry does not know it
        BUILTIN.validate_message("hospital/demo/fridge_thermometer/fr-1/telemetry", b"{}")
    msg = DeviceMessage("fridge_thermometer", "fr-1", "telemetry", 1763884800000, 3, {"temp_c": 4.5})
    assert influx_lines(msg, "demo", "lab", kinds.get("fridge_thermometer"))[0].startswith(
        "fridge_temperature,device_id=fr-1,site=demo,zone=lab temp_c=4.5")
    rules = validate_rules({"rules": {"device_offline": {"timeout_s": {"fridge_thermometer": 600}}}}, kinds)
    assert rules["rules"]["device_offline"]["timeout_s"]["fridge_thermometer"] == 600.0
    assert validate_rules({}, kinds)["rules"]["device_offline"]["timeout_s"]["fridge_thermometer"] == 300.0
    with pytest.raises(RulesError):  # a kind the site does not have
        validate_rules({"rules": {"device_offline": {"timeout_s": {"fridge_thermometer": 600}}}})


def test_a_site_with_a_plugin_kind_loads_through_the_config(plugin: str, tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(textwrap.dedent("""
        [site]
        id = "t"
        name = "t"
        timezone = "Asia/Shanghai"
        [[zones]]
        id = "lab"
        name = "Lab"
        kind = "lab"
        capacity = 10
        [[devices]]
        id = "fr-1"
        kind = "fridge_thermometer"
        zone = "lab"
    """), encoding="utf-8")
    with pytest.raises(SiteError, match="fridge_thermometer"):
        load_site(site)  # the built-in kinds only
    cfg = load_config(env={"FLOOROPS_SITE__FILE": str(site), "FLOOROPS_SITE__KIND_PLUGINS": f'["{plugin}"]'})
    assert site_of(cfg).device("fr-1").kind == "fridge_thermometer"
    cfg.site.kind_plugins = ["no_such_kind_module"]
    with pytest.raises(SiteError, match="no_such_kind_module"):
        site_of(cfg)


def test_bad_declarations_are_refused_with_the_kind_named() -> None:
    def lines(msg: object, tags: object, t: object) -> list[str]:
        return []

    with pytest.raises(KindError, match="transports"):
        DeviceKind("lamp", ("zigbee",), lines, "lamp", 60.0)
    with pytest.raises(KindError, match="lower-case"):
        DeviceKind("Lamp", ("mqtt",), lines, "lamp", 60.0)
    with pytest.raises(KindError, match="channels"):
        DeviceKind("lamp", ("mqtt",), lines, "lamp", 60.0, validators={"status": dict})
    with pytest.raises(KindError, match="twice"):
        KindRegistry([*BUILTIN, BUILTIN.get("kiosk")])


def test_the_hub_refuses_a_kind_that_names_a_rule_set_it_does_not_have(tmp_path: Path) -> None:
    def lines(msg: object, tags: object, t: object) -> list[str]:
        return []

    kinds = KindRegistry([*BUILTIN, DeviceKind("lamp", ("mqtt",), lines, "lamp", 60.0, rules=("lamp_rules",))])
    cfg = load_config(env={})
    cfg.var_dir = str(tmp_path)
    site = load_site(cfg.site.file, kinds)
    with pytest.raises(KindError, match="lamp_rules"):
        make_hub(cfg, ManualClock(1_800_000_000.0), site=site)


def test_no_other_source_file_writes_the_list_of_kinds_out() -> None:
    quoted = [re.compile(rf"""["']{k}["']""") for k in BUILTIN.names]
    files = subprocess.run(["git", "ls-files", "floorops", "centre", "hub", "edge", "console", "firmware_sim", "models"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in files:
        if not name.endswith((".py", ".js")) or name.startswith("floorops/kinds/"):
            continue
        for n, text in enumerate((REPO / name).read_text(encoding="utf-8").splitlines(), 1):
            if all(q.search(text) for q in quoted):
                offenders.append(f"{name}:{n}: {text.strip()}")
    assert offenders == [], "kinds listed outside floorops/kinds/:\n" + "\n".join(offenders)
