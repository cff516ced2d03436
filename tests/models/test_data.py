"""CSV exports of any frequency, bad rows, and zone_stats from a real InfluxDB."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from floorops.influx import line, write_sync
from models.data import DataError, load_zone_stats, parse_freq, read_csv


def test_parse_freq() -> None:
    assert [parse_freq(s) for s in ("15min", "15T", "1h", "H", "30", "1d", "60min")] == [15, 15, 60, 60, 30, 1440, 60]
    for bad in ("7min", "2d", "weekly", "0h"):
        with pytest.raises(DataError):
            parse_freq(bad)


def test_rows_of_any_frequency_are_bucketed(tmp_path: Path) -> None:
    f = tmp_path / "tickets.csv"
    rows = ["when,count"]
    # Five-minute counts from 08:00 to 08:55 local, and nothing at all from 09:00 to 09:29.
    for m in range(0, 60, 5):
        rows.append(f"2026-03-02T08:{m:02d}:00+08:00,{m // 5}")
    rows.append("2026-03-02T09:30:00+08:00,7")
    f.write_text("\n".join(rows) + "\n")
    hist = read_csv(f, "when", {"arrivals": "count"}, freq="15min")
    assert hist.keys == ("all",)
    assert hist.timezone == "Etc/GMT-8"  # the file's own +08:00, so local hours read directly
    np.testing.assert_array_equal(hist.values["arrivals"][0], [0 + 1 + 2, 3 + 4 + 5, 6 + 7 + 8, 9 + 10 + 11, 0, 0, 7])
    assert hist.time_of(0).hour == 8
    hourly = read_csv(f, "when", {"arrivals": "count"}, freq="1h")
    np.testing.assert_array_equal(hourly.values["arrivals"][0], [66, 7])


def test_bad_rows_are_counted_and_good_rows_kept(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text(
        "ts,zone,arrivals,occupancy\n"
        "2026-03-02T08:00:00+08:00,lab,3,10\n"
        "yesterday,lab,3,10\n"
        "2026-03-02T08:15:00+08:00,lab,-1,10\n"
        "2026-03-02T08:15:00+08:00,lab,many,10\n"
        "2026-03-02T08:30:00+08:00,lab,5,\n"
        "2026-03-02T08:30:00+08:00,,5,1\n"
        "2026-03-02T08:45:00+08:00,lab,2,12.5\n"
    )
    seen: list[int] = []
    hist = read_csv(f, "ts", key_col="zone", on_reject=lambda line_no, _reason: seen.append(line_no))
    assert hist.rejected_rows == 4 and seen == [3, 4, 5, 7]
    np.testing.assert_array_equal(hist.values["arrivals"][0], [3, 0, 5, 2])
    occ = hist.values["occupancy"][0]
    assert occ[0] == 10 and np.isnan(occ[1]) and np.isnan(occ[2]) and occ[3] == 12.5


def test_missing_column_and_empty_file_are_clear_errors(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text("time,n\n")
    with pytest.raises(DataError, match="no column 'ts'"):
        read_csv(f, "ts", {"arrivals": "n"})
    with pytest.raises(DataError, match="no usable rows"):
        read_csv(f, "time", {"arrivals": "n"})
    with pytest.raises(DataError, match="no such file|No such file"):
        read_csv(tmp_path / "absent.csv", "time", {"arrivals": "n"})


@pytest.mark.integration
def test_zone_stats_from_influxdb(influx, influx_db: str) -> None:
    tz = dt.timezone(dt.timedelta(hours=8))
    t0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=tz)
    lines = []
    for i in range(8):
        if i == 5:
            continue  # a gap: must come back as NaN, not as a quiet bucket
        ts_ns = int((t0 + dt.timedelta(minutes=15 * i)).timestamp()) * 1_000_000_000
        for zone, base in (("lab", 10), ("paed", 2)):
            lines.append(line("zone_stats", {"site": "demo", "zone": zone},
                              {"arrivals": base + i, "occupancy": float(base * 2 + i), "waiting": i}, ts_ns))
    lines.append(line("zone_stats", {"site": "other", "zone": "lab"}, {"arrivals": 999, "occupancy": 1.0,
                                                                      "waiting": 0}, int(t0.timestamp()) * 10**9))
    write_sync(influx.url, influx_db, lines)
    hist = load_zone_stats(influx.url, influx_db, t0 - dt.timedelta(days=8), t0 + dt.timedelta(hours=2), 15,
                           "Asia/Shanghai", site="demo", chunk_days=3)
    assert hist.keys == ("lab", "paed")
    lab = hist.series("arrivals", "lab")
    assert hist.time_of(0) == t0 and len(lab) == 8
    np.testing.assert_array_equal(lab[[0, 1, 4, 6, 7]], [10, 11, 14, 16, 17])
    assert np.isnan(lab[5]) and np.isnan(hist.series("occupancy", "paed")[5])
    assert hist.series("occupancy", "paed")[7] == 11.0
