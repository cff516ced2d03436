"""What the agent holds, it keeps: kill -9 under load, InfluxDB down under load, broker restarts."""

from __future__ import annotations

import threading
import time

import pytest

from edge_harness import EdgeHarness, telemetry
from centre.services import wait_until
from floorops.topics import EdgeRecord
from test_edge_smoke import hub_listener

pytestmark = [pytest.mark.integration, pytest.mark.slow]

def devices(tag: str) -> list[str]:
    """Four queue screens with ids of their own (a broker account per test and device)."""
    return [f"qs-{tag}-{i}" for i in range(4)]


def stream(edge: EdgeHarness, dynsec, total: int, base_ts: int, tag: str, rate_per_s: float | None = None,
           first_seq: int = 1) -> threading.Thread:
    """Publish ``total`` QoS 1 queue-screen messages spread over four devices, in a background thread."""
    DEVICES = devices(tag)
    clients = [edge.device("queue_screen", d, dynsec) for d in DEVICES]

    def run() -> None:
        per = total // len(DEVICES)
        started = time.monotonic()
        infos = []
        for i in range(per):
            seq = first_seq + i
            for d, c in zip(DEVICES, clients):
                infos.append(c.publish(f"hospital/{edge.site}/queue_screen/{d}/telemetry",
                                       telemetry(seq, base_ts + seq, waiting=seq % 100), qos=1))
            if rate_per_s:
                ahead = (i + 1) * len(DEVICES) / rate_per_s - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        for info in infos:
            info.wait_for_publish(timeout=120)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def assert_exactly_once(edge: EdgeHarness, tag: str, per_device: int, first_seq: int = 1) -> None:
    for d in devices(tag):
        series = edge.query(f"SELECT seq FROM queue_screen WHERE device_id='{d}'")
        seqs = [v[1] for v in series[0]["values"]] if series else []
        assert len(seqs) == per_device, f"{d}: {len(seqs)} points for {per_device} messages"
        assert sorted(seqs) == list(range(first_seq, first_seq + per_device)), f"{d}: wrong or repeated seqs"


def test_kill_9_while_20000_messages_stream_in_loses_and_duplicates_nothing(
        make_edge, broker, dynsec, influx, influx_db, site_id) -> None:
    listener, delivered = hub_listener(broker, dynsec, "kill9", site_id)  # sees what the hub would get
    edge = make_edge(broker, influx, influx_db).start()
    base = int(time.time() * 1000) - 60_000
    publisher = stream(edge, dynsec, 20_000, base, "kill")
    wait_until(lambda: edge.metric("edge_messages_in_total") >= 3000, 60, "agent receiving")
    edge.process.kill()  # kill -9: no flush, no clean disconnect
    killed_at_in = edge.count("queue_screen")
    edge.start()
    publisher.join(180)
    assert not publisher.is_alive()
    wait_until(lambda: edge.count("queue_screen") >= 20_000, 120, "all 20,000 points in InfluxDB")
    time.sleep(1.0)  # anything extra would show up now
    assert killed_at_in < 20_000, "the kill came too late to test anything"
    assert_exactly_once(edge, "kill", 5000)
    wait_until(lambda: edge.metric("edge_buffered_points") == 0 and edge.metric("edge_buffered_records") == 0,
               60, "buffer drained (points and hub records)")
    # Every message also reached the hub's side at least once (the hub drops repeats by device and seq).
    time.sleep(1.0)
    records = {(r.device_id, r.seq) for r in (EdgeRecord.from_json(p) for t, p in list(delivered) if "/edge/" in t)}
    assert records == {(d, s) for d in devices("kill") for s in range(1, 5001)}
    listener.loop_stop()
    listener.disconnect()


def test_influxd_down_for_a_minute_under_load_loses_nothing(make_edge, make_influx, broker, dynsec) -> None:
    own = make_influx()  # this test stops its InfluxDB; the shared one stays up for the others
    edge = make_edge(broker, own, own.database).start()
    base = int(time.time() * 1000) - 60_000
    publisher = stream(edge, dynsec, 16_000, base, "influx", rate_per_s=200)  # 80 s: the load spans the outage
    wait_until(lambda: edge.count("queue_screen") >= 500, 30, "first points")
    own.stop()
    time.sleep(60)
    assert publisher.is_alive()  # still under load when InfluxDB comes back
    assert edge.metric("edge_influx_write_errors_total") >= 3
    assert edge.metric("edge_buffered_points") > 8000
    own.start()
    publisher.join(120)
    wait_until(lambda: edge.count("queue_screen") >= 16_000, 120, "all points after InfluxDB returned")
    assert_exactly_once(edge, "influx", 4000)


def test_broker_restart_the_agent_reconnects_and_resumes(make_edge, make_broker, influx, influx_db) -> None:
    from floorops.dynsec import DynsecClient

    own = make_broker()
    with DynsecClient("127.0.0.1", own.port, own.admin_username, own.admin_password) as ds:
        edge = make_edge(own, influx, influx_db).start()
        base = int(time.time() * 1000) - 60_000
        stream(edge, ds, 2000, base, "brk").join(60)
        wait_until(lambda: edge.count("queue_screen") >= 2000, 60, "first half")
        for c in edge.clients:
            c.loop_stop()
            c.disconnect()
        edge.clients.clear()
    own.restart()
    wait_until(lambda: edge.metric("edge_mqtt_connected") == 1, 40, "agent reconnected")
    with DynsecClient("127.0.0.1", own.port, own.admin_username, own.admin_password) as ds:
        stream(edge, ds, 2000, base, "brk", first_seq=501).join(60)
    wait_until(lambda: edge.count("queue_screen") >= 4000, 60, "second half after the restart")
    assert_exactly_once(edge, "brk", 1000)
    assert "connected to the broker" in edge.log_text() and edge.log_text().count('"connects": 2') == 1
