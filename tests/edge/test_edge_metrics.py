"""The agent's /metrics as Prometheus reads it: parsed back with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import math
import threading
import urllib.error
import urllib.request

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from centre.services import free_port

from edge.metrics import EdgeMetrics, start_metrics_server


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample in an exposition, keyed by name and label set."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def test_counters_parse_back_with_their_names_labels_and_values() -> None:
    m = EdgeMetrics()
    m.rejected.inc(reason="bad_json")
    m.rejected.inc(2, reason="bad_json")
    m.rejected.inc(reason="bad_seq")
    m.messages_in.inc(kind="kiosk", transport="mqtt")
    m.messages_in.inc(transport="mqtt", kind="kiosk")  # same series, whatever the keyword order
    m.messages_in.inc(kind="wifi_probe", transport="serial")
    m.gaps.inc(4, device_id="qs-reg-1")
    m.points_written.inc(250)
    m.write_latency.observe(0.03)
    m.gauge("edge_mqtt_connected", "1 while connected to the broker", lambda: 1)
    m.gauge("edge_store_errors_total", "Failed commits of a batch to the buffer", lambda: 2)

    text = m.render()
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    got = samples(text)

    assert families["edge_rejected"] == "counter" and families["edge_mqtt_connected"] == "gauge"
    assert families["edge_influx_write_seconds"] == "histogram"
    assert got[key("edge_rejected_total", reason="bad_json")] == 3
    assert got[key("edge_rejected_total", reason="bad_seq")] == 1
    assert got[key("edge_messages_in_total", kind="kiosk", transport="mqtt")] == 2
    assert got[key("edge_messages_in_total", kind="wifi_probe", transport="serial")] == 1
    assert got[key("edge_seq_gap_messages_total", device_id="qs-reg-1")] == 4
    assert got[key("edge_points_written_total")] == 250
    assert got[key("edge_hub_records_acked_total")] == 0  # an unlabelled counter shows 0 before its first count
    assert got[key("edge_mqtt_connected")] == 1 and got[key("edge_store_errors_total")] == 2
    assert got[key("edge_influx_write_seconds_count")] == 1
    assert got[key("edge_influx_write_seconds_bucket", le="0.025")] == 0
    assert got[key("edge_influx_write_seconds_bucket", le="0.05")] == 1
    # Nothing counted yet: the family is declared, no made-up series.
    assert not [k for k in got if k[0] == "edge_duplicates_total"]
    # The edge's own readers agree with the exposition.
    assert m.rejected.get(reason="bad_json") == 3 and m.rejected.get(reason="never") == 0
    assert m.rejected.total() == 4 and m.messages_in.total() == 3 and m.points_written.total() == 250


def test_each_instance_has_its_own_numbers_and_none_reach_the_global_registry() -> None:
    a, b = EdgeMetrics(), EdgeMetrics()  # two agents in one process must not collide
    a.duplicates.inc(kind="kiosk")
    assert a.duplicates.total() == 1 and b.duplicates.total() == 0
    assert "edge_duplicates_total" not in prometheus_client.generate_latest().decode()


def test_counting_with_the_wrong_labels_is_a_clear_error() -> None:
    m = EdgeMetrics()
    with pytest.raises(ValueError, match=r"edge_rejected_total is counted by \['reason'\], not by \['kind'\]"):
        m.rejected.inc(kind="kiosk")
    with pytest.raises(ValueError, match="edge_points_written_total is counted by no labels"):
        m.points_written.inc(1, kind="kiosk")
    assert "edge_rejected_total{" not in m.render()


def test_a_gauge_that_cannot_be_read_does_not_hide_the_other_numbers() -> None:
    m = EdgeMetrics()
    m.rejected.inc(reason="bad_json")
    m.gauge("edge_buffered_points", "Points in the durable buffer", lambda: 1 / 0)
    got = samples(m.render())
    assert math.isnan(got[key("edge_buffered_points")])
    assert got[key("edge_rejected_total", reason="bad_json")] == 1


def test_counts_from_several_threads_are_all_kept() -> None:
    m = EdgeMetrics()
    per_thread, threads = 20_000, 4

    def work(i: int) -> None:
        for n in range(per_thread):
            m.duplicates.inc(kind=("kiosk", "queue_screen")[n % 2])
            m.points_written.inc()

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    got = samples(m.render())
    assert got[key("edge_duplicates_total", kind="kiosk")] == threads * per_thread / 2
    assert got[key("edge_duplicates_total", kind="queue_screen")] == threads * per_thread / 2
    assert got[key("edge_points_written_total")] == threads * per_thread


def test_metrics_server_serves_the_exposition_and_health() -> None:
    m = EdgeMetrics()
    m.rejected.inc(reason="bad_json")
    healthy = [True]
    port = free_port()

    def get(path: str) -> tuple[int, str, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return r.status, r.headers["Content-Type"], r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()

    async def scenario() -> list[tuple[int, str, str]]:
        runner = await start_metrics_server(m, "127.0.0.1", port, lambda: healthy[0])
        try:
            loop = asyncio.get_running_loop()
            out = [await loop.run_in_executor(None, get, "/metrics"), await loop.run_in_executor(None, get, "/healthz")]
            healthy[0] = False
            out.append(await loop.run_in_executor(None, get, "/healthz"))
            return out
        finally:
            await runner.cleanup()

    (status, ctype, body), (ok_status, _, ok_body), (bad_status, _, _) = asyncio.run(scenario())
    assert status == 200 and ctype == prometheus_client.CONTENT_TYPE_LATEST
    assert samples(body)[key("edge_rejected_total", reason="bad_json")] == 1
    assert ok_status == 200 and '"ok": true' in ok_body
    assert bad_status == 503
