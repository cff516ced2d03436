"""Unit tests of the edge's processors, framer, buffer and pipeline (no servers)."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from floorops import contract
from floorops.site import load_site
from floorops.config import load_config

from edge.inputs.serial_probe import LineFramer
from edge.metrics import EdgeMetrics
from edge.pipeline import MqttIn, Pipeline, ProbeLine, SerialReject, Tick
from edge.processors.clock import ClockCorrector
from edge.processors.dedup import SeqTracker, SeqVerdict
from edge.processors.occupancy import OccupancyEstimator, ZoneWindows
from edge.processors.privacy import MacHasher, redact

SITE = load_site(load_config(env={}).site.file)


# -- sequence numbers ------------------------------------------------------------------------------

def test_seq_repeats_are_duplicates_gaps_are_counted_and_late_messages_accepted_once() -> None:
    t = SeqTracker()
    assert t.check("d", 10).verdict is SeqVerdict.NEW
    assert t.check("d", 11).gap == 0
    assert t.check("d", 11).verdict is SeqVerdict.DUPLICATE
    r = t.check("d", 15)
    assert r.verdict is SeqVerdict.NEW and r.gap == 3
    assert t.check("d", 13).verdict is SeqVerdict.LATE
    assert t.check("d", 13).verdict is SeqVerdict.DUPLICATE
    assert t.check("d", 3).verdict is SeqVerdict.LATE  # before the first seen: accepted once
    assert t.check("d", 3).verdict is SeqVerdict.DUPLICATE


def test_seq_wraps_at_2_32_and_a_device_restart_is_not_a_duplicate() -> None:
    t = SeqTracker()
    t.check("d", contract.SEQ_MODULUS - 1)
    r = t.check("d", 0)
    assert r.verdict is SeqVerdict.NEW and r.gap == 0
    t.check("e", 500_000)
    assert t.check("e", 1).verdict is SeqVerdict.RESET
    assert t.check("e", 2).verdict is SeqVerdict.NEW


def test_a_rebooted_device_counting_from_one_again_is_not_dropped_as_duplicates() -> None:
    t = SeqTracker()
    for s in range(1, 301):
        t.check("k", s, ts=1_000_000 + s)
    # Redeliveries after a reconnect carry their old device time: still duplicates, late ones still late.
    assert t.check("k", 300, ts=1_000_300).verdict is SeqVerdict.DUPLICATE
    assert t.check("k", 250, ts=1_000_250).verdict is SeqVerdict.DUPLICATE
    # The device reboots and starts again at 1, later in time: every new message is kept.
    assert t.check("k", 1, ts=2_000_001).verdict is SeqVerdict.RESET
    assert [t.check("k", s, ts=2_000_000 + s).verdict for s in range(2, 5)] == [SeqVerdict.NEW] * 3
    assert t.check("k", 3, ts=2_000_003).verdict is SeqVerdict.DUPLICATE  # and its own repeats are not
    u = SeqTracker()
    u.check("q", 10, ts=5_000)
    assert u.check("q", 10, ts=9_000).verdict is SeqVerdict.RESET  # same seq, rebooted at exactly it
    assert u.check("q", 10, ts=9_000).verdict is SeqVerdict.DUPLICATE


def test_seq_state_survives_a_restart_through_dump_and_load() -> None:
    t = SeqTracker()
    for s in (1, 2, 3, 7):
        t.check("d", s)
    saved = dict(t.take_dirty())
    u = SeqTracker()
    u.load("d", saved["d"], loaded_at_ms=1_000)
    assert u.check("d", 7).verdict is SeqVerdict.DUPLICATE
    assert u.check("d", 3).verdict is SeqVerdict.DUPLICATE
    assert u.check("d", 5).verdict is SeqVerdict.LATE
    assert u.check("d", 8).verdict is SeqVerdict.NEW
    # Device time is kept too, and state stored before it was kept still loads.
    t.check("k", 5, ts=7_000)
    v = SeqTracker()
    v.load("k", dict(t.take_dirty())["k"], loaded_at_ms=99_000)
    assert v.check("k", 1, ts=8_000).verdict is SeqVerdict.RESET  # the stored device time counts, not the load's
    # State stored before device time was kept: the agent's start stands in for it.
    old = SeqTracker()
    old.load("d", "419:" + "f" * 105, loaded_at_ms=5_000)  # seqs 1..419 seen
    assert old.check("d", 419, ts=4_000).verdict is SeqVerdict.DUPLICATE  # older than the start: a redelivery
    assert old.check("d", 300, ts=4_100).verdict is SeqVerdict.DUPLICATE
    assert old.check("d", 1, ts=6_000).verdict is SeqVerdict.RESET  # rebooted since: counted from 1, kept
    assert [old.check("d", s, ts=6_000 + s).verdict for s in range(2, 5)] == [SeqVerdict.NEW] * 3
    resaved = SeqTracker()  # such a state saved again by an agent that did not know the time: "...:0"
    resaved.load("d", "419:" + "f" * 105 + ":0", loaded_at_ms=5_000)
    assert resaved.check("d", 1, ts=6_000).verdict is SeqVerdict.RESET


# -- clock -----------------------------------------------------------------------------------------

def test_a_clock_past_the_bound_is_corrected_keeping_its_spacing() -> None:
    now = [1_800_000_000_000]
    c = ClockCorrector(120, lambda: now[0])
    assert c.correct("d", now[0] - 60_000) == (now[0] - 60_000, False)
    ts, corrected = c.correct("d", now[0] - 3_600_000)  # an hour behind
    assert corrected and abs(ts - now[0]) < 1000
    now[0] += 5000
    ts2, corrected2 = c.correct("d", now[0] - 3_600_000)
    assert corrected2 and ts2 - ts == 5000
    assert ClockCorrector(0, lambda: now[0]).correct("d", 1) == (1, False)  # 0 disables


# -- privacy ---------------------------------------------------------------------------------------

def test_mac_key_rotates_daily_is_mode_600_and_old_keys_are_deleted(tmp_path: Path) -> None:
    h = MacHasher(tmp_path / "keys")
    day1 = dt.datetime(2026, 11, 20, 12, tzinfo=dt.timezone.utc)
    h.rotate_if_needed(day1)
    a1 = h.hash("3c:22:fb:12:9a:01")
    assert a1 == h.hash("3c:22:fb:12:9a:01") and len(a1) == 32 and "3c22" not in a1
    key1 = tmp_path / "keys" / "2026-11-20.key"
    assert stat.S_IMODE(os.stat(key1).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "keys").st_mode) == 0o700
    h.rotate_if_needed(day1 + dt.timedelta(days=1))
    assert h.hash("3c:22:fb:12:9a:01") != a1  # a phone cannot be followed from one day to the next
    assert key1.exists()  # yesterday's key is kept for a day (windows across midnight)
    h.rotate_if_needed(day1 + dt.timedelta(days=2))
    assert not key1.exists()
    again = MacHasher(tmp_path / "keys")  # a restart the same day reuses the day's key
    again.rotate_if_needed(day1 + dt.timedelta(days=2))
    assert again.hash("aa:bb:cc:dd:ee:ff") == h.hash("aa:bb:cc:dd:ee:ff")


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(st.binary(min_size=6, max_size=6), st.sampled_from([":", "-"]), st.booleans(), st.binary(max_size=40))
def test_redaction_removes_every_mac_spelling(octets: bytes, sep: str, upper: bool, around: bytes) -> None:
    mac = sep.join(f"{b:02x}" for b in octets)
    mac = mac.upper() if upper else mac
    out = redact(b"x " + around + b" " + mac.encode() + b" " + around)
    assert mac.encode() not in out and mac.replace(sep, "").encode() not in redact(mac.replace(sep, "").encode())


# -- serial framing --------------------------------------------------------------------------------

def line(*f: str) -> bytes:
    return contract.format_probe_line(list(f))


def test_framer_reassembles_lines_across_reads_and_resynchronises_on_dollar() -> None:
    fr = LineFramer("p")
    good = line("HBT", "probe-11", "1800000000000", "10")
    data = b"\xff\xfegarbage" + good[:7] + b"$PRB,broken" + good + good[:20]
    items = fr.feed(data[:12]) + fr.feed(data[12:])  # the cut falls inside the first "$" fragment
    items += fr.feed(good[20:])
    kinds = [(type(i).__name__, getattr(i, "reason", "")) for i in items]
    assert kinds == [("SerialReject", "noise"), ("SerialReject", "bad_frame"), ("SerialReject", "bad_frame"),
                     ("ProbeLine", ""), ("ProbeLine", "")]
    assert items[3].line == good.rstrip(b"\r\n")


def test_framer_discards_lines_over_256_bytes_until_the_next_dollar() -> None:
    fr = LineFramer("p")
    good = line("HBT", "probe-11", "1800000000000", "10")
    items = fr.feed(b"$" + b"A" * 200) + fr.feed(b"B" * 200) + fr.feed(b"C" * 10 + b"\r\n" + good)
    assert [getattr(i, "reason", "line") for i in items] == ["too_long", "line"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), st.sampled_from([b"$", b"\r\n", b"*", b","])), max_size=30))
def test_framer_never_loses_a_good_line_after_noise(noise: list[bytes]) -> None:
    fr = LineFramer("p")
    good = line("HBT", "probe-11", "1800000000000", "10")
    items = fr.feed(b"".join(noise)) + fr.feed(b"\r\n" + good)
    assert any(isinstance(i, ProbeLine) and i.line == good[:-2] for i in items)


# -- occupancy -------------------------------------------------------------------------------------

def test_windows_count_distinct_hashes_above_the_rssi_threshold_and_forget_old_ones() -> None:
    w = ZoneWindows(window_s=300, rssi_min=-80)
    w.observe("z", "a", 1_000, -60, False)
    w.observe("z", "a", 2_000, -60, False)
    w.observe("z", "b", 2_000, -90, False)  # too weak: next door
    w.observe("z", "r1", 3_000, -70, True)
    assert w.counts("z", 10_000) == (1, 1)
    assert w.counts("z", 303_500) == (0, 0)


def test_estimator_fit_recovers_the_factors_it_was_built_with() -> None:
    est = OccupancyEstimator(phone_ratio=0.7, random_mac_factor=2.5)
    u = [10, 40, 25, 60, 5, 33]
    r = [30, 12, 50, 44, 9, 21]
    y = est.predict(u, r)
    fitted = OccupancyEstimator().fit(u, r, y)
    assert fitted.phone_ratio == pytest.approx(0.7) and fitted.random_mac_factor == pytest.approx(2.5)


# -- pipeline ---------------------------------------------------------------------------------------

def make_pipeline(tmp_path: Path, now: list[int], bound_s: float = 120) -> tuple[Pipeline, EdgeMetrics]:
    m = EdgeMetrics()
    p = Pipeline(SITE, MacHasher(tmp_path / "keys"), m, clock_skew_bound_s=bound_s, occupancy_window_s=300,
                 occupancy_rssi_min=-80, estimator=OccupancyEstimator(0.8, 2.0), now_ms=lambda: now[0])
    return p, m


def qs(seq: int, ts: int) -> MqttIn:
    body = {"v": 1, "ts": ts, "seq": seq, "queue": "REG-1", "waiting": 1, "serving": "", "counters_open": 1,
            "avg_wait_s": 1.0}
    return MqttIn("hospital/demo/queue_screen/qs-reg-1/telemetry", json.dumps(body).encode(), seq, 1)


def test_pipeline_counts_duplicates_gaps_and_flags_corrected_clocks(tmp_path: Path) -> None:
    now = [1_800_000_000_000]
    p, m = make_pipeline(tmp_path, now)
    b = p.process([qs(1, now[0]), qs(1, now[0]), qs(4, now[0]), qs(5, now[0] - 3_600_000)])
    assert len(b.lines) == 3 and len(b.records) == 3
    assert len(b.acks) == 4  # duplicates are acknowledged too (they are stored already)
    assert m.duplicates.total() == 1 and m.gaps.get(device_id="qs-reg-1") == 2
    assert json.loads(b.records[-1][1])["flags"] == ["clock_corrected"] and m.clock_corrected.total() == 1


def test_pipeline_keeps_the_time_of_readings_the_broker_held_during_an_outage(tmp_path: Path) -> None:
    """The edge away for 5 minutes (down, or its buffer full): the broker delivers the backlog late. Moved to
    "now" as a wrong clock, the readings landed on the times of later readings and overwrote them."""
    now = [1_800_000_000_000]
    p, m = make_pipeline(tmp_path, now)
    start = now[0]
    p.process([qs(1, start)])
    now[0] = start + 300_000  # 30 readings, 10 s apart, held by the broker meanwhile, then a live one
    b = p.process([qs(seq, start + (seq - 1) * 10_000) for seq in range(2, 32)] + [qs(32, now[0])])
    times = [int(line.rsplit(" ", 1)[1]) // 1_000_000 for line in b.lines]
    assert times == [start + i * 10_000 for i in range(1, 31)] + [now[0]]
    assert m.clock_corrected.total() == 0
    # A late message out of order (an older seq redelivered) keeps its time as well.
    b = p.process([qs(0, start - 10_000)])
    assert [int(line.rsplit(" ", 1)[1]) // 1_000_000 for line in b.lines] == [start - 10_000]
    # A clock that jumps back an hour is still a wrong clock.
    b = p.process([qs(33, now[0] - 3_600_000)])
    assert m.clock_corrected.total() == 1 and abs(int(b.lines[0].rsplit(" ", 1)[1]) // 1_000_000 - now[0]) < 1000


def test_pipeline_marks_a_retained_status_as_the_brokers_copy(tmp_path: Path) -> None:
    now = [1_800_000_000_000]
    p, _ = make_pipeline(tmp_path, now)
    body = json.dumps({"v": 1, "ts": now[0] - 600_000, "state": "offline"}).encode()
    topic = "hospital/demo/kiosk/kiosk-reg-1/status"
    b = p.process([MqttIn(topic, body, 1, 1, retain=True), MqttIn(topic, body, 2, 1, retain=False)])
    assert ["retained" in json.loads(r[1])["flags"] for r in b.records] == [True, False]


def test_pipeline_serial_probe_goes_offline_after_30_s_of_silence(tmp_path: Path) -> None:
    now = [1_800_000_000_000]
    p, _ = make_pipeline(tmp_path, now)
    b = p.process([ProbeLine("probe-11", line("HBT", "probe-11", str(now[0]), "5")[:-2])])
    recs = [json.loads(r[1]) for r in b.records]
    assert [(r["channel"], r["data"]) for r in recs] == [
        ("status", {"state": "online", "source": "edge"}), ("telemetry", {"sightings": 0, "uptime_s": 5})]
    now[0] += 20_000
    assert p.process([Tick(now[0], False)]).records == []
    now[0] += 15_000
    b = p.process([Tick(now[0], False)])
    rec = json.loads(b.records[0][1])
    assert rec["device_id"] == "probe-11" and rec["channel"] == "status" and rec["data"]["state"] == "offline"


def test_pipeline_occupancy_published_per_probe_zone_with_corrections(tmp_path: Path) -> None:
    now = [1_800_000_000_000]
    p, m = make_pipeline(tmp_path, now)
    sightings = [{"mac": f"3c:22:fb:00:00:{i:02x}", "rssi": -60, "ts": now[0]} for i in range(8)]
    sightings += [{"mac": f"da:22:fb:00:00:{i:02x}", "rssi": -60, "ts": now[0]} for i in range(4)]
    body = {"v": 1, "ts": now[0], "seq": 1, "sightings": sightings}
    b = p.process([MqttIn("hospital/demo/wifi_probe/probe-03/telemetry", json.dumps(body).encode(), 1, 1),
                   Tick(now[0] + 1000)])
    occ = {json.loads(r[1])["zone"]: json.loads(r[1]) for r in b.records if "/zone/" in r[0]}
    assert occ["reg_hall"]["devices"] == 12 and occ["reg_hall"]["occupancy"] == pytest.approx((8 + 4 / 2) / 0.8)
    assert "entrance" not in occ  # its probes said nothing: no data is not "nobody there"
    empty = {"v": 1, "ts": now[0], "seq": 1, "sightings": []}
    b = p.process([MqttIn("hospital/demo/wifi_probe/probe-01/telemetry", json.dumps(empty).encode(), 2, 1),
                   Tick(now[0] + 2000)])
    occ = {json.loads(r[1])["zone"]: json.loads(r[1]) for r in b.records if "/zone/" in r[0]}
    assert occ["entrance"]["occupancy"] == 0 and occ["reg_hall"]["devices"] == 12
    probe_recs = [json.loads(r[1]) for r in b.records if "/wifi_probe/" in r[0]]
    assert [r["data"] for r in probe_recs] == [{"sightings": 0}]  # liveness only: no MAC, no hash


def test_pipeline_rejects_with_reasons_and_survives_an_unexpected_error(tmp_path: Path) -> None:
    now = [1_800_000_000_000]
    p, m = make_pipeline(tmp_path, now)
    b = p.process([MqttIn("hospital/other/kiosk/k/telemetry", b"{}", 1, 1),
                   SerialReject("probe-11", "noise", "x", b"3c:22:fb:00:00:01 zz"),
                   qs(1, now[0])])
    assert [d.reason for d in b.deadletters] == ["wrong_site", "noise"]
    assert b"3c:22" not in b.deadletters[1].payload and len(b.lines) == 1


# -- normalisation fast paths ------------------------------------------------------------------------

@settings(deadline=None)
@given(st.text(max_size=12), st.text(min_size=1, max_size=12), st.integers(-2**40, 2**40),
       st.floats(allow_nan=False, allow_infinity=False), st.booleans())
def test_edge_lines_are_the_line_protocol_whatever_the_tag_order(tag: str, s: str, i: int, f: float,
                                                                 b: bool) -> None:
    from floorops.influx import line

    def esc(x: str) -> str:
        return x.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")

    tags = {"site": "demo", "zone": tag, "device_id": "d 1,=x"}
    fields = {"waiting": i, "serving": s, "avg wait": f, "ok": b}
    quoted = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    expected = ("queue_screen,device_id=d\\ 1\\,\\=x,site=demo" + (f",zone={esc(tag)}" if tag else "")
                + f' waiting={i}i,serving="{quoted}",avg\\ wait={f!r},ok={"true" if b else "false"} 123')
    assert line("queue_screen", tags, fields, 123) == expected
    # The cached series part does not depend on the order the tags come in.
    assert line("queue_screen", dict(reversed(list(tags.items()))), fields, 123) == expected


def test_hub_record_is_the_edge_record_json() -> None:
    from floorops.topics import EdgeRecord
    from edge.processors.normalise import hub_record
    from edge.processors.validate import DeviceMessage

    msg = DeviceMessage("kiosk", "k1", "event", 1_800_000_000_000, 7, {"event": "card_jam"}, flags=["clock_corrected"])
    topic, payload = hub_record(msg, "demo", "reg_hall")
    assert topic == "floorops/demo/edge/kiosk/k1/event"
    assert payload == EdgeRecord("k1", "kiosk", "event", 1_800_000_000_000, 7, {"event": "card_jam"}, "reg_hall",
                                 "demo", ["clock_corrected"]).to_json()
    assert EdgeRecord.from_json(payload).flags == ["clock_corrected"]


def test_agent_retries_a_failed_buffer_commit_until_it_is_stored(tmp_path: Path, monkeypatch) -> None:
    from edge import agent as agent_mod
    from edge.agent import EdgeAgent
    from edge.pipeline import Batch

    cfg = load_config(env={})
    cfg.var_dir = str(tmp_path)
    a = EdgeAgent(cfg, SITE)
    real_commit = a.buffer.commit
    failures = [OSError("disk full"), OSError("database is locked")]

    def flaky(*args, **kwargs):
        if failures:
            raise failures.pop(0)
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(a.buffer, "commit", flaky)
    monkeypatch.setattr(agent_mod.time, "sleep", lambda s: None)
    a._store(Batch(lines=["m v=1i 1"], records=[("t", b"p", False)]))
    assert a.store_errors == 2 and a.buffer.pending_points == 1 and a.buffer.pending_records == 1
    exposed = {s.name: s.value for f in text_string_to_metric_families(a.metrics.render()) for s in f.samples}
    assert exposed["edge_store_errors_total"] == 2

