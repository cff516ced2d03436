"""Device kinds have one home (floorops/kinds/): each kind is one declaration in a module of its own, and
every list of kinds is derived from a registry of them, so a new kind is one declaration (and that kind's
own modules), not an edit of seven lists. A site's own kinds are plugin modules named in the config."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import textwrap
from pathlib import Path, PurePosixPath

import pytest

from floorops.config import load_config
from floorops.contract import ContractError
from floorops.topics import parse_device_topic
from floorops.kinds import BUILTIN, DeviceKind, KindError, KindRegistry, from_plugins
from floorops.measurements import influx_lines
from floorops.messages import DeviceMessage
from firmware_sim.faults import UnknownFault
from floorops.site import Device, SiteError, load_site, site_of
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


# The same kind, with its simulated device and a fault of its own declared beside it (firmware_sim.devices).
SIMULATED_THERMOMETER = THERMOMETER + '''
from firmware_sim.devices.base import MqttDeviceSim, SimModel, plain
from firmware_sim.faults import FaultSpec


class FridgeSim(MqttDeviceSim):
    period_ms = 60_000

    def tick(self, now_ms):
        self.send_telemetry(now_ms, {"temp_c": 30.0 if self.has("door_open") else 4.0})


SIM = SimModel(KIND.name, {"mqtt": plain(FridgeSim)},
               faults=(FaultSpec("door_open", True, 0, "the fridge door is left open"),))
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


def test_a_plugin_kind_is_simulated_with_its_own_fault_and_the_generic_ones(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from firmware_sim.engine import SimOptions, Simulation
    from tests.firmware_sim.conftest import Recorder

    name = f"sim_kind_plugin_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(SIMULATED_THERMOMETER, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        kinds = from_plugins([name])
        demo = site_of(load_config(env={}))
        site = dataclasses.replace(demo, kinds=kinds,
                                   devices=(*demo.devices, Device("fr-1", "fridge_thermometer", demo.zones[0].id)))
        rec = Recorder()
        sim = Simulation(site, 1_795_000_000_000, rec, SimOptions(seed=1, only_devices={"fr-1"}, repair_min=0))
        assert {"door_open", "power_loss", "malformed_json"} <= {f.name for f in
                                                                   sim.kinds.faults.for_device("fridge_thermometer", "mqtt")}
        sim.start()
        sim.advance_to(sim.start_ms + 3 * 60_000)
        sim.inject("fr-1", "door_open")
        sim.advance_to(sim.start_ms + 6 * 60_000)
        temps = [kinds.validate_message(t, p)[1]["temp_c"] for t, p in rec.of("fr-1") if t.endswith("/telemetry")]
        assert temps[0] == 4.0 and temps[-1] == 30.0
        with pytest.raises(UnknownFault):
            sim.inject("fr-1", "card_jam")  # a kiosk's fault
        assert sim.counts["errors"] == 0
    finally:
        sys.modules.pop(name, None)


def test_the_site_file_runs_each_kinds_own_device_checks(tmp_path: Path) -> None:
    demo = site_of(load_config(env={}))
    screen = next(d for d in demo.devices if d.kind in BUILTIN.commanded_names)
    for wrong, message in [(dataclasses.replace(screen, queue="NO-SUCH-QUEUE"), "unknown queue"),
                           (dataclasses.replace(next(d for d in demo.devices if d.transport == "modbus"), unit_id=0),
                            "unit_id 1..247")]:
        check = BUILTIN.get(wrong.kind).check_device
        assert check is not None and message in (check(wrong, frozenset(q.id for q in demo.queues)) or "")
    bad = tmp_path / "site.toml"
    text = Path(load_config(env={}).site.file).read_text(encoding="utf-8")
    bad.write_text(text.replace(f'queue = "{screen.queue}"', 'queue = "NO-SUCH-QUEUE"', 1), encoding="utf-8")
    with pytest.raises(SiteError, match="unknown queue 'NO-SUCH-QUEUE'"):
        load_site(bad)


def test_commands_and_own_format_transports_come_from_the_declarations() -> None:
    from floorops.dynsec import device_acls, hub_acls

    def lines(msg: object, tags: object, t: object) -> list[str]:
        return []

    lamp = DeviceKind("lamp", ("mqtt",), lines, "lamp", 60.0, commanded=True)
    kinds = KindRegistry([*BUILTIN, lamp])
    assert kinds.commanded_names == (*BUILTIN.commanded_names, "lamp")
    assert any(a["topic"].endswith("/lamp/l-1/cmd") for a in device_acls("s", "lamp", "l-1", kinds))
    assert not any(a["topic"].endswith("/cmd") for a in device_acls("s", "lamp", "l-1"))  # not commanded there
    assert any("/lamp/" in a["topic"] for a in hub_acls("s", kinds))
    assert BUILTIN.reader("serial") in BUILTIN.names and BUILTIN.reader("modbus") in BUILTIN.names
    with pytest.raises(KindError, match="modbus"):  # the edge reads one register map
        KindRegistry([*BUILTIN, DeviceKind("meter", ("modbus",), lines, "meter", 60.0, device_seq=False)])


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


# Where a built-in kind's name may be written: its declaration (floorops/kinds/), the kind's own modules
# elsewhere (named after it: firmware_sim/devices/kiosk.py, hub/rules/charger.py), and the console's words
# for it (i18n). Tests and docs are not scanned. Everything else refers to a kind through its declaration.
SCANNED = ("floorops", "centre", "hub", "edge", "console", "firmware_sim", "models", "bench")


def kind_literals(path: str, text: str, names: tuple[str, ...] = BUILTIN.names) -> list[str]:
    """The lines of source file ``path`` that quote a kind's name outside the allow-list."""
    p = PurePosixPath(path)
    if path.startswith("floorops/kinds/") or p.stem in names or "i18n" in p.parts or p.suffix not in (".py", ".js"):
        return []
    alt = "|".join(names)  # quoted, or a JS template literal (not an RST ``literal`` in a docstring)
    quoted = re.compile(rf"""["']({alt})["']|(?<!`)`({alt})`(?!`)""")
    return [f"{path}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if quoted.search(line)]


def test_no_other_source_file_names_a_kind() -> None:
    files = subprocess.run(["git", "ls-files", *SCANNED], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    offenders = [o for name in files if name.endswith((".py", ".js"))
                 for o in kind_literals(name, (REPO / name).read_text(encoding="utf-8"))]
    assert offenders == [], "kinds named outside their declarations and own modules:\n" + "\n".join(offenders)


def test_the_kind_guard_catches_a_planted_name() -> None:
    planted = 'x = 1\nif d.kind == "charger":\n'
    assert kind_literals("hub/core.py", planted) == ['hub/core.py:2: if d.kind == "charger":']
    assert kind_literals("console/static/js/views/admin.js", "const k = `kiosk`;\n")
    assert kind_literals("bench/x.py", "kinds = ['wifi_probe', 'queue_screen']\n")
    assert not kind_literals("hub/core.py", 'device = "kiosk-01"; measurement = "kiosk_extra"\n')
    assert not kind_literals("hub/core.py", "Trained on the screens' ``queue_screen`` readings.\n")
    assert not kind_literals("firmware_sim/devices/charger.py", planted)  # the kind's own module
    assert not kind_literals("console/static/i18n/zh.js", planted)
