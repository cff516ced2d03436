"""Dead letters never keep a raw MAC (issue #12 item 7a): the payload is redacted whole, also in its
JSON-unescaped form (``aa\\u003abb\\u003a...``), before it is cut to MAX_STORED_PAYLOAD; a MAC across the
cut, the dash, dot, bare and upper-case forms all go, and the good text around them is kept. At unit level
on a real dead-letter store (SQLite file on disk), and once through a real edge agent, broker and influxd."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from edge.deadletters import MAX_STORED_PAYLOAD, DeadLetter, DeadLetterStore
from centre.services import InfluxServer, MosquittoServer, wait_until
from tests.edge.edge_harness import EdgeHarness, make_config, provision_edge

MAC = "3c:22:fb:9a:41:7e"
OCTETS = MAC.split(":")


def forms(mac: str = MAC) -> list[bytes]:
    """Every spelling a scan must not find: separators, bare, Cisco dotted; lower and upper case."""
    o = mac.split(":")
    out = [sep.join(o).encode() for sep in (":", "-", ".", "")]
    out.append(".".join("".join(o[i:i + 2]) for i in (0, 2, 4)).encode())
    return out + [f.upper() for f in out]


def escaped(mac: str = MAC, sep: str = "\\u003a") -> bytes:
    return sep.join(mac.split(":")).encode()


def no_mac(data: bytes) -> bool:
    """Neither the MAC nor a 3-octet piece of it (a cut must not leave half a MAC readable) is there."""
    pieces = [":".join(OCTETS[i:i + 3]).encode() for i in range(4)]
    decoded = re.sub(rb"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)).encode("utf-8", "replace"), data)
    return not any(f.lower() in d for f in forms() + pieces for d in (data.lower(), decoded.lower()))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DeadLetterStore]:
    s = DeadLetterStore(tmp_path / "deadletters.sqlite", 100)
    yield s
    s.close()


def stored(store: DeadLetterStore, payload: bytes) -> DeadLetter:
    store.add([DeadLetter.make("hospital/demo/wifi_probe/probe-05/telemetry", "bad_json", "not JSON", payload)])
    (letter,) = store.list(1)
    on_disk = b"".join(p.read_bytes() for p in store.path.parent.glob(store.path.name + "*"))
    assert no_mac(on_disk), "raw MAC in the dead-letter database file"
    return letter


@pytest.mark.parametrize("offset", [1, 5, 8, 12, 16])
def test_a_mac_across_the_cut_is_redacted(store: DeadLetterStore, offset: int) -> None:
    head = b'{"note":"' + b"x" * (MAX_STORED_PAYLOAD - offset - 9)  # the MAC starts `offset` bytes before the cut
    payload = head + MAC.encode() + b'", "rest": "' + b"y" * 100 + b'"'
    assert payload[:MAX_STORED_PAYLOAD].endswith(MAC.encode()[:offset])  # the cut falls inside the MAC
    letter = stored(store, payload)
    assert no_mac(letter.payload), letter.payload[-40:]
    assert len(letter.payload) <= MAX_STORED_PAYLOAD and letter.size == len(payload)
    assert letter.payload.startswith(b'{"note":"xxxx')  # the good part is kept


@pytest.mark.parametrize("sep", ["\\u003a", "\\u003A", "\\u002d", "\\u002e"])
def test_a_json_escaped_mac_is_redacted(store: DeadLetterStore, sep: str) -> None:
    payload = b'{"v":1,"sightings":[{"mac":"' + escaped(MAC, sep) + b'","rssi":-60,"zone":"reg_hall"}'
    letter = stored(store, payload)
    assert no_mac(letter.payload), letter.payload
    assert b'"rssi":-60,"zone":"reg_hall"' in letter.payload and letter.payload.startswith(b'{"v":1,')


def test_escaped_hex_digits_and_a_mac_across_the_cut_in_escaped_form(store: DeadLetterStore) -> None:
    spelled = "".join(f"\\u{ord(c):04x}" for c in MAC).encode()  # every character escaped: 102 bytes
    payload = b'{"a":"' + b"z" * (MAX_STORED_PAYLOAD - 6 - 40) + spelled + b'"}'
    letter = stored(store, payload)
    assert no_mac(letter.payload) and b"\\u003" not in letter.payload[-60:], letter.payload[-60:]


@pytest.mark.parametrize("mac", [MAC.replace(":", "-"), MAC.upper(), MAC.replace(":", "-").upper(),
                                 MAC.replace(":", ""), "3c22.fb9a.417e", "3C22.FB9A.417E"])
def test_every_spelling_is_redacted_and_the_good_message_kept(store: DeadLetterStore, mac: str) -> None:
    payload = b"good before 12:30:45 | " + mac.encode() + b" | good after seq=7"
    letter = stored(store, payload)
    assert mac.encode() not in letter.payload and no_mac(letter.payload)
    assert letter.payload == b"good before 12:30:45 | <mac-redacted> | good after seq=7"


def test_a_literal_backslash_is_not_taken_for_an_escape(store: DeadLetterStore) -> None:
    payload = b'{"path":"C:\\\\u003a\\\\temp","ok":true}'  # JSON for the text C:\u003a\temp: no MAC
    assert stored(store, payload).payload == payload


@pytest.mark.integration
def test_a_real_edge_dead_letters_without_a_raw_mac(tmp_path: Path, broker: MosquittoServer, dynsec,
                                                    influx: InfluxServer, influx_db: str) -> None:
    cfg = make_config(tmp_path, broker, influx.url, influx_db)
    provision_edge(cfg, broker)
    edge = EdgeHarness(cfg, broker, influx.url, influx_db, tmp_path).start()
    try:
        probe = edge.device("wifi_probe", "probe-05", dynsec)
        topic = f"hospital/{cfg.site.id}/wifi_probe/probe-05/telemetry"
        cut = b'{"v":1,"seq":1,"x":"' + b"x" * (MAX_STORED_PAYLOAD - 8 - 20) + MAC.encode() + b'",'  # broken JSON
        esc = b'{"v":1,"seq":2,"sightings":[{"mac":"' + escaped(MAC.upper()) + b'","rssi":-60'  # broken JSON
        for payload in (cut, esc):
            probe.publish(topic, payload, qos=1).wait_for_publish(5)
        wait_until(lambda: edge.metric("edge_rejected_total") >= 2, 30, "both messages rejected")
        out = subprocess.run([sys.executable, "-m", "edge", "deadletters", "--json", "--config",
                              str(edge.config_path)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        letters = [json.loads(line) for line in out.stdout.splitlines()]
        assert len(letters) == 2 and all(d["source"] == topic for d in letters)
        assert all(no_mac(d["payload"].encode()) for d in letters), [d["payload"][-60:] for d in letters]
        assert any(d["payload"].startswith('{"v":1,"seq":1,"x":"xxx') for d in letters)
        assert any('"rssi":-60' in d["payload"] for d in letters)
        edge.process.stop()  # type: ignore[union-attr]  # - started above, so not None
        files = [p for p in Path(cfg.var_dir).rglob("*") if p.is_file()] + [edge.dir / "edge.log"]
        leaked = [str(p) for p in files if not no_mac(p.read_bytes())]
        assert leaked == []
    finally:
        edge.stop()
