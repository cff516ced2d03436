"""The InfluxDB 1.x client: escaping, idempotent point times, and real writes and queries."""

from __future__ import annotations

import asyncio

import pytest

from floorops.influx import InfluxClient, InfluxWriteError, line, point_time_ns, query_sync, rows, write_sync
from centre.services import InfluxServer, free_port


def test_line_protocol_escapes_and_types() -> None:
    got = line("kiosk", {"zone": "reg hall", "device_id": "k,1", "empty": ""},
               {"app": 'say "hi"', "resp_ms": 850, "cpu_pct": 31.5, "ok": True}, 5)
    assert got == r'kiosk,device_id=k\,1,zone=reg\ hall app="say \"hi\"",resp_ms=850i,cpu_pct=31.5,ok=true 5'
    with pytest.raises(ValueError):
        line("m", {}, {"x": float("nan")}, 1)


def test_point_time_is_stable_and_distinct() -> None:
    assert point_time_ns(1763884800000, 42) == point_time_ns(1763884800000, 42)
    assert point_time_ns(1763884800000, 42) != point_time_ns(1763884800000, 43)
    assert point_time_ns(1763884800000, None) == 1763884800000 * 1_000_000


@pytest.mark.integration
def test_write_query_and_replay_overwrites(influx: InfluxServer, influx_db: str) -> None:
    async def go() -> list[dict]:
        c = InfluxClient(influx.url, influx_db)
        try:
            pts = [line("kiosk", {"device_id": "k1"}, {"resp_ms": i}, point_time_ns(1763884800000, i))
                   for i in range(100)]
            await c.write(pts)
            await c.write(pts[:50])  # a replay after a crash: must not duplicate
            return await c.query("SELECT count(resp_ms), sum(resp_ms) FROM kiosk")
        finally:
            await c.close()

    series = asyncio.run(go())
    assert rows(series[0])[0]["count"] == 100
    assert rows(series[0])[0]["sum"] == sum(range(100))
    write_sync(influx.url, influx_db, [line("m", {}, {"v": 1}, 10**18)])
    assert rows(query_sync(influx.url, influx_db, "SELECT v FROM m")[0])[0]["v"] == 1


@pytest.mark.integration
def test_errors_say_whether_to_retry(influx: InfluxServer, influx_db: str) -> None:
    async def go() -> tuple[InfluxWriteError, InfluxWriteError]:
        bad = InfluxClient(influx.url, influx_db)
        down = InfluxClient(f"http://127.0.0.1:{free_port()}", influx_db, timeout_s=2)
        try:
            with pytest.raises(InfluxWriteError) as e1:
                await bad.write(["this is not line protocol"])
            with pytest.raises(InfluxWriteError) as e2:
                await down.write(["m v=1i 1"])
            return e1.value, e2.value
        finally:
            await bad.close()
            await down.close()

    malformed, unreachable = asyncio.run(go())
    assert malformed.status == 400 and not malformed.retryable
    assert unreachable.retryable
