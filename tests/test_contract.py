"""The device contract as code: what is accepted, and each reason a message is rejected."""

from __future__ import annotations

import json

import pytest

from floorops.contract import (
    ContractError, ProbeHeartbeat, ProbeSighting, format_probe_line, is_locally_administered, parse_probe_line,
)
from floorops.kinds import BUILTIN

validate_message = BUILTIN.validate_message

TS = 1763884800000


def msg(**kw: object) -> bytes:
    return json.dumps({"v": 1, "ts": TS, "seq": 42, **kw}).encode()


def test_examples_from_the_contract_validate() -> None:
    t, p = validate_message(
        "hospital/demo/queue_screen/qs-1/telemetry",
        msg(queue="IM-3", waiting=23, serving="A045", counters_open=3, avg_wait_s=840),
    )
    assert (t.kind, t.device_id, p["waiting"]) == ("queue_screen", "qs-1", 23)
    _, p = validate_message(
        "hospital/demo/kiosk/k-1/telemetry",
        msg(cpu_pct=31.5, mem_pct=62.0, paper_pct=40, card_reader="ok", printer="ok", app="ok", resp_ms=850,
            txn_ok=12, txn_fail=0),
    )
    assert p["resp_ms"] == 850
    _, p = validate_message("hospital/demo/kiosk/k-1/event", msg(event="card_jam"))
    assert p["event"] == "card_jam"
    _, p = validate_message(
        "hospital/demo/wifi_probe/p-1/telemetry",
        msg(sightings=[{"mac": "3C-22-FB-12-9A-01", "rssi": -61, "ts": TS - 500}]),
    )
    assert p["sightings"][0]["mac"] == "3c:22:fb:12:9a:01"
    _, p = validate_message("hospital/demo/kiosk/k-1/status", b'{"v":1,"ts":%d,"state":"offline"}' % TS)
    assert p["state"] == "offline"


@pytest.mark.parametrize(
    "topic, payload, reason",
    [
        ("hospital/demo/kiosk/k 1/event", msg(event="card_jam"), "bad_topic"),
        ("hospital/demo/toaster/k1/event", msg(event="card_jam"), "bad_topic"),
        ("hospital/demo/kiosk/k1/event", b"{not json", "bad_json"),
        ("hospital/demo/kiosk/k1/event", b"[1,2]", "bad_json"),
        ("hospital/demo/kiosk/k1/event", msg(event="explode"), "bad_enum"),
        ("hospital/demo/kiosk/k1/event", json.dumps({"v": 2, "ts": TS, "seq": 1, "event": "reboot"}).encode(),
         "bad_version"),
        ("hospital/demo/kiosk/k1/event", json.dumps({"v": 1, "ts": TS, "event": "reboot"}).encode(),
         "missing_field"),
        ("hospital/demo/kiosk/k1/event", msg(event="fault_cleared"), "missing_field"),
        ("hospital/demo/queue_screen/q1/telemetry",
         msg(queue="IM-3", waiting="23", serving="A", counters_open=3, avg_wait_s=1), "wrong_type"),
        ("hospital/demo/queue_screen/q1/telemetry",
         msg(queue="IM-3", waiting=-1, serving="A", counters_open=3, avg_wait_s=1), "out_of_range"),
        ("hospital/demo/wifi_probe/p1/telemetry", msg(sightings=[{"mac": "zz", "rssi": -1, "ts": TS}]), "bad_mac"),
        ("hospital/demo/wifi_probe/p1/event", msg(event="x"), "bad_topic"),
    ],
)
def test_rejections_carry_a_reason(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(ContractError) as exc:
        validate_message(topic, payload)
    assert exc.value.reason == reason


def test_rejection_of_a_sighting_never_echoes_the_mac() -> None:
    with pytest.raises(ContractError) as exc:
        validate_message("hospital/demo/wifi_probe/p1/telemetry",
                         msg(sightings=[{"mac": "3c:22:fb:12:9a:01", "rssi": 5, "ts": TS}]))
    assert "3c:22" not in str(exc.value)


def test_probe_line_round_trip_and_checksum() -> None:
    line = format_probe_line(["PRB", "p7", str(TS), "3c:22:fb:12:9a:01", "-61", "6"])
    assert line.endswith(b"\r\n")
    assert parse_probe_line(line.rstrip(b"\r\n")) == ProbeSighting("p7", TS, "3c:22:fb:12:9a:01", -61, 6)
    hb = format_probe_line(["HBT", "p7", str(TS), "3600"]).rstrip(b"\r\n")
    assert parse_probe_line(hb) == ProbeHeartbeat("p7", TS, 3600)
    corrupted = line.replace(b"-61", b"-62").rstrip(b"\r\n")
    with pytest.raises(ContractError, match="bad_checksum"):
        parse_probe_line(corrupted)
    with pytest.raises(ContractError, match="too_long"):
        parse_probe_line(b"$" + b"A" * 300 + b"*00")


def test_locally_administered_bit() -> None:
    assert is_locally_administered("da:a1:19:00:00:01")
    assert not is_locally_administered("3c:22:fb:12:9a:01")
