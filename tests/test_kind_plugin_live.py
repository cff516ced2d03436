"""A device kind declared in this test alone: its messages flow device -> broker -> edge -> InfluxDB and
-> hub -> ``/api/devices``, with no other file of the project touched.

The kind is a plugin module written to a temporary folder and named in the config (``[site]
kind_plugins``); the whole stack is the launcher's (real Mosquitto, influxd, edge and hub processes, no
simulator). What a user checks: the device can be registered with ``python -m hub devices add``, its
reading is stored under the kind's own measurement, the hub shows it with its readings and history,
a reading that breaks the kind's contract is dead-lettered, and it falls under the offline rule with the
silence timeout its declaration gives.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Iterator

import paho.mqtt.client as mqtt
import pytest

from floorops.influx import query_sync
from centre.launcher import ControlCentre
from centre.services import free_port
from tests.test_end_to_end import cli, http, login
from tests.test_kinds import THERMOMETER

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLUGIN = "fridge_kind_live"


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlCentre]:
    from floorops.config import load_config

    plugins = tmp_path_factory.mktemp("plugins")
    (plugins / f"{PLUGIN}.py").write_text(THERMOMETER, encoding="utf-8")
    saved_path, saved_env = list(os.sys.path), os.environ.get("PYTHONPATH")
    os.sys.path.insert(0, str(plugins))  # the launcher (this process) loads the site too
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(plugins), saved_env) if p)
    var = tmp_path_factory.mktemp("floorops-var")
    cfg = load_config(env={})
    cfg.var_dir = str(var)
    cfg.log_format = "json"
    cfg.site.kind_plugins = [PLUGIN]
    cfg.mqtt.port, cfg.mqtt.tls_port = free_port(), free_port()
    cfg.influx.url, cfg.influx.rpc_port = f"http://127.0.0.1:{free_port()}", free_port()
    cfg.hub.http_port, cfg.edge.metrics_port, cfg.sim.control_port = free_port(), free_port(), free_port()
    c = ControlCentre(cfg, with_simulator=False, bootstrap_models=False)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        os.sys.path[:] = saved_path
        os.sys.modules.pop(PLUGIN, None)
        if saved_env is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved_env


def publish(centre: ControlCentre, creds: dict[str, Any], channel: str, body: dict[str, Any]) -> None:
    """As the device would: its own account and client id, QoS 1, waiting for the broker's PUBACK."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=creds["id"], protocol=mqtt.MQTTv311)
    c.username_pw_set(creds["mqtt_username"], creds["mqtt_password"])
    c.connect("127.0.0.1", centre.cfg.mqtt.port)
    c.loop_start()
    try:
        info = c.publish(creds["topic_prefix"] + channel, json.dumps(body), qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        c.disconnect()
        c.loop_stop()


def eventually(check: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_a_kind_declared_in_a_plugin_flows_from_the_device_to_influxdb_and_the_hub(centre: ControlCentre) -> None:
    creds = json.loads(cli(centre, "-m", "hub", "devices", "add", "fridge-1", "--kind", "fridge_thermometer",
                           "--zone", "lab"))
    assert creds["topic_prefix"] == "hospital/demo/fridge_thermometer/fridge-1/"
    token = login(centre, "monitor")
    status, site = http(centre, "GET", "/api/site", token=token)
    assert status == 200
    declared = {k["name"]: k for k in site["device_kinds"]}["fridge_thermometer"]
    assert declared["readings"] == ["temp_c"] and declared["offline_after_s"] == 300.0

    ts = int(time.time() * 1000)
    publish(centre, creds, "telemetry", {"v": 1, "ts": ts, "seq": 1, "temp_c": 4.5})
    publish(centre, creds, "telemetry", {"v": 1, "ts": ts + 1000, "seq": 2, "temp_c": 999})  # breaks the kind's range
    publish(centre, creds, "telemetry", {"v": 1, "ts": ts + 2000, "seq": 3, "temp_c": 5.25})

    def stored() -> list[tuple[Any, ...]]:
        series = query_sync(centre.cfg.influx.url, centre.cfg.influx.database,
                            "SELECT temp_c, seq FROM fridge_temperature WHERE device_id = 'fridge-1'")
        return [tuple(v[1:]) for s in series for v in s["values"]]
    rows = eventually(lambda: len(stored()) >= 2 and stored())
    assert rows == [(4.5, 1), (5.25, 3)], rows

    def device() -> dict[str, Any] | None:
        status, devices = http(centre, "GET", "/api/devices", token=token)
        assert status == 200
        return next((d for d in devices if d["id"] == "fridge-1" and d.get("readings", {}).get("temp_c") == 5.25),
                    None)
    dev = eventually(device)
    assert dev is not None, "the hub never showed the thermometer's last reading"
    assert dev["kind"] == "fridge_thermometer" and dev["zone"] == "lab" and dev["state"] == "online"

    status, history = http(centre, "GET", "/api/devices/fridge-1/history?since=1h", token=token)
    assert status == 200
    assert [r["temp_c"] for r in history] == [4.5, 5.25]

    status, rules = http(centre, "GET", "/api/rules", token=token)
    assert rules["rules"]["device_offline"]["timeout_s"]["fridge_thermometer"] == 300.0
    listing = cli(centre, "-m", "edge", "deadletters")
    assert "fridge-1" in listing and "out_of_range" in listing
