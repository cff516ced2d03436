"""Transitions and back-and-forth wandering from scripted sighting sequences (edge/processors/flows.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from edge.processors.flows import OTHER, FlowSettings, FlowTracker
from edge.processors.privacy import MacHasher

MIN = 60_000
T0 = 1_780_000_200_000 - 1_780_000_200_000 % (5 * MIN)  # an interval boundary


def walk(tr: FlowTracker, phone: str, steps: list[tuple[str, float]], *, randomised: bool = False,
         rssi: int = -60) -> None:
    """``steps``: (zone, minutes after T0) sightings of one phone."""
    for zone, m in steps:
        tr.observe(zone, phone, T0 + int(m * MIN), rssi, randomised)


def closed(tr: FlowTracker, at_min: float, scale: float = 1.0) -> list[dict]:
    return tr.close(T0 + int(at_min * MIN), scale)


def flows_of(out: list[dict]) -> dict[tuple[str, str], dict]:
    return {(f["origin"], f["dest"]): f for iv in out for f in iv["flows"]}


def test_transitions_counted_with_median_transit_and_k() -> None:
    tr = FlowTracker(FlowSettings(k=5))
    for i in range(6):  # six phones hall -> lab, transit 1, 2, ..., 6 minutes after last seen in the hall
        walk(tr, f"h{i}", [("hall", 0.0), ("hall", 0.5), ("lab", 0.5 + (i + 1))])
    for i in range(3):  # three phones hall -> pharmacy: under k
        walk(tr, f"p{i}", [("hall", 0.0), ("pharmacy", 2.0)])
    out = closed(tr, 30)
    f = flows_of(out)
    assert set(f) == {("hall", "lab")}
    assert f[("hall", "lab")]["tracked"] == 6
    assert f[("hall", "lab")]["median_transit_s"] == pytest.approx(3.5 * 60)
    assert all("pharmacy" not in (o, d) for o, d in f)


def test_scale_applies_to_count_not_to_the_k_rule() -> None:
    tr = FlowTracker(FlowSettings(k=5))
    for i in range(4):
        walk(tr, f"h{i}", [("hall", 0.0), ("lab", 1.0)])
    assert flows_of(closed(tr, 30, scale=10.0)) == {}  # 4 phones stand for 40 people: still under k
    tr = FlowTracker(FlowSettings(k=5))
    for i in range(5):
        walk(tr, f"h{i}", [("hall", 0.0), ("lab", 1.0)])
    f = flows_of(closed(tr, 30, scale=1.8))[("hall", "lab")]
    assert (f["tracked"], f["count"]) == (5, 9)


def test_counts_under_k_carry_into_the_next_interval() -> None:
    tr = FlowTracker(FlowSettings(k=5, interval_s=300))
    for i in range(3):
        walk(tr, f"a{i}", [("hall", 0.0), ("lab", 1.0)])  # interval 0
    for i in range(3):
        walk(tr, f"b{i}", [("hall", 5.5), ("lab", 6.0)])  # interval 1
    out = closed(tr, 12)
    assert [iv["start"] for iv in out] == [T0, T0 + 5 * MIN]
    assert out[0]["flows"] == []
    assert out[1]["flows"][0]["tracked"] == 6


def test_counts_under_k_for_too_long_go_to_other_and_only_at_k() -> None:
    tr = FlowTracker(FlowSettings(k=5, interval_s=300, carry_max=1))
    for j, (o, d) in enumerate([("a", "b"), ("c", "d"), ("e", "f")]):
        for i in range(2):
            walk(tr, f"{o}{i}", [(o, 0.0), (d, 1.0 + j * 0.1)])
    out = closed(tr, 20)
    assert all(iv["flows"] == [] for iv in out)
    assert [iv["other"] for iv in out] == [0, 6, 0]  # 6 >= k after the carry: published as "other" once


def test_the_privacy_rule_keeps_a_steady_pairs_walks_in_their_hour() -> None:
    """28 followed phones an hour on one pair (a pair of ~50 people an hour): with the default interval each
    one holds k of them, so the hour's published count is the hour's walks. At 5-minute intervals (~2 each)
    the k rule carried the count from interval to interval, and what was still held at the hour's end was
    published in the next hour (docs/benchmarks.md, "Patient flow": 92 % -> 96 % of busy pair-hours)."""
    hour_ms = 3_600_000
    t_hour = T0 - T0 % hour_ms + hour_ms
    tr = FlowTracker(FlowSettings())
    for i in range(28):
        at = t_hour + int((i + 0.5) * hour_ms / 28) - MIN
        tr.observe("hall", f"p{i}", at, -60, False)
        tr.observe("lab", f"p{i}", at + MIN, -60, False)
    out = tr.close(t_hour + 2 * hour_ms, 1.0)
    per_hour: dict[int, int] = {}
    for iv in out:
        for f in iv["flows"]:
            h = (iv["start"] - t_hour) // hour_ms
            per_hour[h] = per_hour.get(h, 0) + f["tracked"]
    assert per_hour == {0: 28}


def test_lateness_keeps_an_interval_open_and_late_sightings_are_counted_not_used() -> None:
    tr = FlowTracker(FlowSettings(k=1, interval_s=300, lateness_s=60))
    walk(tr, "x", [("hall", 0.0), ("lab", 4.0)])
    assert closed(tr, 5.5) == []  # the interval [0, 5) waits until minute 6
    assert len(closed(tr, 6.1)) == 1
    walk(tr, "y", [("hall", 1.0)])
    assert tr.late == 1


def test_weak_sightings_are_the_next_zone_and_ignored() -> None:
    tr = FlowTracker(FlowSettings(k=1))
    walk(tr, "x", [("hall", 0.0)])
    tr.observe("lab", "x", T0 + MIN, -90, False)  # bleed from the lab's probe
    walk(tr, "x", [("hall", 2.0)])
    assert flows_of(closed(tr, 30)) == {}


def test_back_and_forth_without_service_is_wandering() -> None:
    tr = FlowTracker(FlowSettings(k=1, wander_window_s=600, service_min_s=300))
    walk(tr, "lost", [("imaging_ct", 0.0), ("corridor", 1.0), ("corridor", 2.0), ("imaging_ct", 4.5)])
    walk(tr, "fine", [("imaging_ct", 0.0), ("imaging_ct", 4.0)])
    out = closed(tr, 30)
    w = {z["zone"]: z for iv in out for z in iv["wandering"]}
    ct = w["imaging_ct"]
    assert (ct["visitors"], ct["back_and_forth"], ct["rate"]) == (2, 1, 0.5)
    assert ct["extra_walk_s"] == pytest.approx(4.5 * 60)  # last seen at CT at 0, back at 4.5 min
    assert ct["via"] == {"corridor": 1}
    assert w["corridor"]["back_and_forth"] == 0


def test_served_in_between_or_too_slow_is_not_wandering() -> None:
    tr = FlowTracker(FlowSettings(k=1, wander_window_s=600, service_min_s=300))
    walk(tr, "served", [("clinic", 0.0), ("lab", 1.0), ("lab", 7.0), ("clinic", 8.0)])  # 6 min in the lab
    walk(tr, "slow", [("hall", 0.0), ("cafe", 3.0), ("hall", 14.0)])  # back after 14 min > window
    out = closed(tr, 40)
    assert sum(z["back_and_forth"] for iv in out for z in iv["wandering"]) == 0
    f = flows_of(out)
    assert f[("clinic", "lab")]["tracked"] == 1 and f[("lab", "clinic")]["tracked"] == 1


def test_a_b_a_b_a_counts_two_detours() -> None:
    tr = FlowTracker(FlowSettings(k=1))
    walk(tr, "x", [("ct", 0.0), ("us", 1.0), ("ct", 2.0), ("us", 3.0), ("ct", 4.0)])
    ct = {z["zone"]: z for iv in closed(tr, 30) for z in iv["wandering"]}["ct"]
    assert (ct["visitors"], ct["back_and_forth"]) == (1, 2)


def test_wandering_under_k_is_withheld_then_carried() -> None:
    tr = FlowTracker(FlowSettings(k=5, interval_s=300))
    for i in range(4):  # 4 wander at CT in the first interval, 1 more visitor who does not
        walk(tr, f"l{i}", [("ct", 0.0), ("us", 1.0), ("ct", 2.0)])
    walk(tr, "ok", [("ct", 0.0)])
    for i in range(2):  # 2 more wander in the next interval
        walk(tr, f"m{i}", [("ct", 5.5), ("us", 6.0), ("ct", 7.0)])
    out = closed(tr, 12)
    first = {z["zone"]: z for z in out[0]["wandering"]}
    # The 5 visitors are published; the 4 back-and-forths (< k) wait for more.
    assert (first["ct"]["visitors"], first["ct"]["back_and_forth"]) == (5, 0)
    ct = {z["zone"]: z for z in out[1]["wandering"]}["ct"]
    # Then 6 back-and-forths are published; the 2 new visitors (< k) wait in turn. None is lost.
    assert (ct["visitors"], ct["back_and_forth"], ct["rate"]) == (0, 6, None)
    assert ct["via"] == {"us": 6}
    assert tr.carried_zones["ct"].visitors == 2


def test_randomised_addresses_are_not_followed() -> None:
    tr = FlowTracker(FlowSettings(k=1))
    walk(tr, "u1", [("hall", 0.0)])
    walk(tr, "r1", [("hall", 0.0), ("lab", 2.0)], randomised=True)
    out = closed(tr, 30)
    assert flows_of(out) == {}
    assert sum(iv["randomised_ignored"] for iv in out) == 2
    assert "r1" not in tr.tracks


def test_a_rotated_address_breaks_the_track() -> None:
    """A phone that changes its address between zones is two phones: no transition, two visitors."""
    tr = FlowTracker(FlowSettings(k=1))
    walk(tr, "before", [("hall", 0.0)])
    walk(tr, "after", [("lab", 2.0)])
    out = closed(tr, 30)
    assert flows_of(out) == {}
    assert sum(z["visitors"] for iv in out for z in iv["wandering"]) == 2


def test_idle_tracks_forgotten_and_key_rotation_drops_all(tmp_path: Path) -> None:
    tr = FlowTracker(FlowSettings(k=1, track_idle_s=900))
    walk(tr, "x", [("hall", 0.0)])
    walk(tr, "y", [("hall", 14.0)])
    closed(tr, 20)
    assert set(tr.tracks) == {"y"}
    walk(tr, "y", [("lab", 40.0)])  # idle 26 min: a new visit, not a hall -> lab transition
    assert flows_of(closed(tr, 60)) == {}
    tr.forget()
    assert tr.tracks == {}
    # After the key rotates, the same phone hashes differently: yesterday's track could not continue.
    h = MacHasher(tmp_path)
    h.rotate_if_needed(dt.datetime(2026, 12, 5, 23, 59, tzinfo=dt.timezone.utc))
    before = h.hash("3c:22:fb:00:00:01")
    h.rotate_if_needed(dt.datetime(2026, 12, 6, 0, 1, tzinfo=dt.timezone.utc))
    assert h.hash("3c:22:fb:00:00:01") != before


def test_a_phone_first_heard_further_in_walked_through_the_entry() -> None:
    """Patients cross the entrance hall in seconds and their phone is often first heard at the lab: with the
    site's ``entered_via`` the walk is counted (in ``tracked``, not in the transit time, which nobody
    heard). A zone without it (the emergency department: people come straight from outside) gets none."""
    tr = FlowTracker(FlowSettings(k=5), entered_via={"lab": "hall", "ed": ""})
    walk(tr, "staff", [("hall", -20.0)])  # the edge has been listening for a while
    for i in range(3):  # heard in the hall, then at the lab: 2 min transit
        walk(tr, f"heard{i}", [("hall", 0.0), ("lab", 2.0)])
    for i in range(3):  # first heard at the lab
        walk(tr, f"unheard{i}", [("lab", 1.0), ("lab", 3.0)])
    for i in range(6):  # first heard at the emergency department
        walk(tr, f"ed{i}", [("ed", 1.0)])
    walk(tr, "hall-only", [("hall", 1.0)])  # first heard in the hall itself: no walk yet
    f = flows_of(closed(tr, 30))
    assert set(f) == {("hall", "lab")}
    assert f[("hall", "lab")]["tracked"] == 6
    assert f[("hall", "lab")]["median_transit_s"] == pytest.approx(2 * 60)


def test_walks_inferred_at_the_entry_alone_wait_for_a_heard_transit() -> None:
    """Five inferred walks make k phones but no transit time: the pair waits (as under k) for a heard one."""
    tr = FlowTracker(FlowSettings(k=5, interval_s=300), entered_via={"lab": "hall"})
    walk(tr, "staff", [("hall", -20.0)])
    for i in range(5):
        walk(tr, f"u{i}", [("lab", 1.0)])
    out = closed(tr, 7)
    assert flows_of(out) == {}
    walk(tr, "h", [("hall", 7.0), ("lab", 8.0)])
    f = flows_of(closed(tr, 20))[("hall", "lab")]
    assert (f["tracked"], f["median_transit_s"]) == (6, 60.0)


def test_no_walk_in_is_inferred_just_after_a_restart_or_a_key_rotation() -> None:
    """Every phone already in the lab is "first heard" when the edge starts or its key rotates: for
    ``track_idle_s`` after that, a first sighting is no evidence of a walk in (an edge restart once showed
    twice the usual entrance -> reg_hall count). Later ones are."""
    tr = FlowTracker(FlowSettings(k=5, interval_s=300, track_idle_s=900), entered_via={"lab": "hall"})
    walk(tr, "h", [("hall", 0.0), ("lab", 1.0)])  # a heard walk, so that the pair can be published
    for i in range(5):
        walk(tr, f"there{i}", [("lab", 2.0)])  # within 15 min of the start: there all along, maybe
    for i in range(5):
        walk(tr, f"new{i}", [("lab", 16.0)])
    out = closed(tr, 30)
    assert [sum(f["tracked"] for f in iv["flows"]) for iv in out] == [0, 0, 0, 6, 0]
    tr.forget()  # midnight: the key rotates, every phone is new again
    walk(tr, "h2", [("hall", 31.0), ("lab", 32.0)])
    for i in range(5):
        walk(tr, f"again{i}", [("lab", 33.0)])
    for i in range(4):
        walk(tr, f"later{i}", [("hall", 50.0), ("lab", 51.0)])
    assert sum(f["tracked"] for iv in closed(tr, 60) for f in iv["flows"]) == 5


def test_without_entered_via_a_first_sighting_is_no_walk() -> None:
    tr = FlowTracker(FlowSettings(k=1))
    walk(tr, "u", [("lab", 1.0), ("lab", 2.0)])
    assert flows_of(closed(tr, 30)) == {}


def test_aggregates_name_no_hash() -> None:
    tr = FlowTracker(FlowSettings(k=1))
    phone = "0123456789abcdef0123456789abcdef"
    walk(tr, phone, [("ct", 0.0), ("us", 1.0), ("ct", 2.0)])
    assert phone not in repr(closed(tr, 30))


def test_bad_settings_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="k >= 1"):
        FlowSettings(k=0)
    assert OTHER == "other"


# -- in the edge's pipeline ------------------------------------------------------------------------------


class DayHasher(MacHasher):
    """A hasher whose day the test sets (the key rotates when it changes)."""

    day_now = dt.date(2026, 12, 5)

    def _today(self, now: dt.datetime | None = None) -> dt.date:
        return self.day_now


def test_pipeline_publishes_flow_aggregates_and_drops_tracks_when_the_key_rotates(tmp_path: Path) -> None:
    import json

    from edge.metrics import EdgeMetrics
    from edge.pipeline import MqttIn, Pipeline, Tick
    from edge.processors.occupancy import OccupancyEstimator
    from floorops.config import load_config
    from floorops.site import load_site

    site = load_site(load_config(env={}).site.file)
    zone_of = {d.id: d.zone for d in site.devices}
    assert (zone_of["probe-01"], zone_of["probe-03"]) == ("entrance", "reg_hall")
    t0 = T0
    now = [t0]
    hasher = DayHasher(tmp_path / "keys")
    p = Pipeline(site, hasher, EdgeMetrics(), clock_skew_bound_s=120, occupancy_window_s=120,
                 occupancy_rssi_min=-80, estimator=OccupancyEstimator(0.8, 2.0), now_ms=lambda: now[0],
                 flows=FlowSettings(k=5, interval_s=300))
    macs = [f"3c:22:fb:00:00:{i:02x}" for i in range(6)]
    seq = [0]

    def heard(probe: str, at: int) -> MqttIn:
        seq[0] += 1
        body = {"v": 1, "ts": at, "seq": seq[0], "sightings": [{"mac": m, "rssi": -60, "ts": at} for m in macs]}
        return MqttIn(f"hospital/demo/wifi_probe/{probe}/telemetry", json.dumps(body).encode(), seq[0], 1)

    p.process([heard("probe-01", t0)])
    now[0] = t0 + MIN
    p.process([heard("probe-03", now[0])])
    now[0] = t0 + 7 * MIN
    b = p.process([Tick(now[0])])
    recs = [json.loads(r[1]) for r in b.records if r[0] == "floorops/demo/flows/interval"]
    assert len(recs) == 1
    assert [(f["origin"], f["dest"], f["tracked"]) for f in recs[0]["flows"]] == [("entrance", "reg_hall", 6)]
    assert recs[0]["flows"][0]["count"] >= 6  # scaled up for people without a followed phone
    assert any(line.startswith("zone_flow,dest=reg_hall,origin=entrance,site=demo ") for line in b.lines)
    hashes = [hasher.hash(m) for m in macs]
    everything = "\n".join(b.lines) + "".join(r[1].decode() for r in b.records)
    assert not any(h in everything for h in hashes)
    assert len(p.flows.tracks) == 6
    # Midnight: the key rotates and every track is dropped.
    DayHasher.day_now = dt.date(2026, 12, 6)
    try:
        p.process([Tick(now[0], False)])
        assert p.flows.tracks == {}
    finally:
        DayHasher.day_now = dt.date(2026, 12, 5)


def test_detection_share_corrects_the_rate_not_the_count() -> None:
    """The flow calibration says CT's detours are seen half the time: one seen in two visitors is a rate of
    100 %; the count stays what was seen (k applies to it). A zone without a share is published as seen."""
    tr = FlowTracker(FlowSettings(k=1), detection={"imaging_ct": 0.5})
    walk(tr, "lost", [("imaging_ct", 0.0), ("corridor", 1.0), ("imaging_ct", 4.0)])
    walk(tr, "fine", [("imaging_ct", 0.0), ("imaging_ct", 4.0)])
    walk(tr, "other", [("lab", 0.0), ("hall", 1.0), ("lab", 3.0)])
    walk(tr, "other2", [("lab", 0.0)])
    w = {z["zone"]: z for iv in closed(tr, 30) for z in iv["wandering"]}
    assert (w["imaging_ct"]["back_and_forth"], w["imaging_ct"]["detection"], w["imaging_ct"]["rate"]) == (1, 0.5, 1.0)
    assert (w["lab"]["back_and_forth"], w["lab"]["detection"], w["lab"]["rate"]) == (1, 1.0, 0.5)


@pytest.mark.parametrize("share", [0.0, -0.2, 1.5])
def test_a_detection_share_outside_0_1_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="detection share"):
        FlowTracker(FlowSettings(), detection={"imaging_ct": share})



@pytest.mark.parametrize(("halflife_s", "second_scale"), [
    (0.0, 3.75),  # each interval's own figure
    (1e12, (15.0 + 22.5) / 12),  # pooled: both intervals' people over both intervals' followed phones
    (4 * 3600.0, (15.0 * 0.5 ** (300 / 14400) + 22.5) / (6 * 0.5 ** (300 / 14400) + 6)),  # the default
])
def test_the_people_per_followed_phone_is_pooled_over_intervals(tmp_path: Path, halflife_s: float,
                                                                second_scale: float) -> None:
    """One interval's occupancy over its followed phones is off by up to ~20 % in an hour; the edge pools it
    with the earlier intervals' so that one noisy estimate does not scale a whole interval's flows."""
    import json

    from edge.metrics import EdgeMetrics
    from edge.pipeline import MqttIn, Pipeline, Tick
    from edge.processors.occupancy import OccupancyEstimator
    from floorops.config import load_config
    from floorops.site import load_site

    site = load_site(load_config(env={}).site.file)
    now = [T0]
    p = Pipeline(site, DayHasher(tmp_path / "keys"), EdgeMetrics(), clock_skew_bound_s=120,
                 occupancy_window_s=120, occupancy_rssi_min=-80, estimator=OccupancyEstimator(0.8, 2.0),
                 now_ms=lambda: now[0], flows=FlowSettings(k=5, interval_s=300, scale_halflife_s=halflife_s))
    followed = [f"3c:22:fb:00:00:{i:02x}" for i in range(6)]
    randomising = [f"3e:00:00:00:00:{i:02x}" for i in range(12)]  # locally administered: not followed
    seq = [0]
    records: list[dict] = []

    def at(minute: float, items: list) -> None:
        now[0] = T0 + int(minute * MIN)
        b = p.process(items)
        records.extend(json.loads(r[1]) for r in b.records if r[0] == "floorops/demo/flows/interval")

    def heard(probe: str, macs: list[str], minute: float) -> MqttIn:
        seq[0] += 1
        ts = T0 + int(minute * MIN)
        body = {"v": 1, "ts": ts, "seq": seq[0], "sightings": [{"mac": m, "rssi": -60, "ts": ts} for m in macs]}
        return MqttIn(f"hospital/demo/wifi_probe/{probe}/telemetry", json.dumps(body).encode(), seq[0], 1)

    # Interval 1: 6 followed phones, entrance -> reg_hall; 15 people estimated (7.5 in each zone): 2.5 each.
    at(0, [heard("probe-01", followed, 0)])
    at(1, [heard("probe-03", followed, 1)])
    at(1.5, [Tick(T0 + int(1.5 * MIN))])
    at(6.5, [Tick(T0 + int(6.5 * MIN))])
    # Interval 2: the same 6 with 12 randomising phones in reg_hall, then back to the entrance: 22.5 people.
    at(7, [heard("probe-03", followed + randomising, 7)])
    at(8, [heard("probe-01", followed, 8)])
    at(8.5, [Tick(T0 + int(8.5 * MIN))])
    at(12, [Tick(T0 + 12 * MIN)])
    assert [r["start"] for r in records] == [T0, T0 + 5 * MIN]
    assert records[0]["scale"] == pytest.approx(2.5)
    assert [(f["origin"], f["dest"], f["tracked"], f["count"]) for f in records[0]["flows"]] == [
        ("entrance", "reg_hall", 6, 15)]
    assert records[1]["scale"] == pytest.approx(second_scale, abs=0.001)
    assert [(f["origin"], f["dest"], f["count"]) for f in records[1]["flows"]] == [
        ("reg_hall", "entrance", round(6 * second_scale))]
