"""Visits no probe heard, estimated from those heard once and twice (edge/processors/unheard_visits.py)."""

from __future__ import annotations

import pytest

from edge.processors.flows import FlowSettings, FlowTracker
from edge.processors.unheard_visits import UnheardVisits

MIN = 60_000
T0 = 1_780_000_200_000 - 1_780_000_200_000 % (5 * MIN)


def visits(uv: UnheardVisits, origin: str, zone: str, dest: str, heard: int, n: int) -> None:
    for _ in range(n):
        uv.visit(origin, zone, dest, heard)


def test_chao_estimate_restores_the_walks_an_unheard_visit_broke() -> None:
    uv = UnheardVisits()
    visits(uv, "A", "B", "C", 1, 6)  # f1 = 6
    visits(uv, "A", "B", "C", 2, 4)  # f2 = 4
    visits(uv, "A", "B", "C", 5, 20)
    visits(uv, "A", "C", "", 5, 10)  # ten walks A -> C seen (some of them were A -> B -> C)
    uv.pool(1.0)
    unheard = 6 * 5 / (2 * (4 + 1))  # 3 visits to B nobody heard
    assert uv.factor("A", "B") == pytest.approx(1 + unheard / 30)
    assert uv.factor("A", "C") == pytest.approx(1 - unheard / 10)
    assert uv.factor("X", "Y") == 1.0  # never seen: as seen


def test_unheard_visits_go_where_the_visits_heard_once_went() -> None:
    uv = UnheardVisits()
    visits(uv, "A", "B", "C", 1, 8)  # the quick visits all went on to C ...
    visits(uv, "A", "B", "D", 4, 20)  # ... the long ones to D
    visits(uv, "B", "C", "", 4, 8)
    visits(uv, "B", "D", "", 4, 20)
    uv.pool(1.0)
    assert uv.factor("B", "C") > 1.0
    assert uv.factor("B", "D") == 1.0


def test_a_zone_with_few_visits_or_all_heard_often_is_not_corrected() -> None:
    uv = UnheardVisits()
    visits(uv, "A", "B", "C", 1, 10)  # 10 visits: too few to estimate from
    visits(uv, "A", "D", "C", 3, 40)  # many, none heard once
    uv.pool(1.0)
    assert uv.factor("A", "B") == 1.0
    assert uv.factor("A", "D") == 1.0


def test_walks_through_the_entry_are_not_estimated_twice() -> None:
    # Phones first heard in the hall (origin unknown) then in the lab: the tracker already counts a walk
    # hall -> lab for each phone first heard in the lab (entered_via), so no more are added for them.
    uv = UnheardVisits({"lab": "hall"})
    visits(uv, "", "hall", "lab", 1, 15)
    visits(uv, "", "hall", "lab", 4, 15)
    visits(uv, "hall", "lab", "", 4, 30)
    uv.pool(1.0)
    assert uv.factor("hall", "lab") == 1.0


def test_the_estimate_halves_with_the_half_life() -> None:
    uv = UnheardVisits()
    visits(uv, "A", "B", "C", 1, 10)
    visits(uv, "A", "B", "C", 5, 20)
    uv.pool(1.0)
    early = uv.factor("A", "B")
    visits(uv, "A", "B", "C", 5, 30)  # an hour of long visits: fewer unheard ones likely
    uv.pool(0.5)
    assert 1.0 < uv.factor("A", "B") < early


def test_tracker_publishes_counts_with_the_unheard_walks_and_keeps_tracked_as_seen() -> None:
    """60 phones walk A -> B -> C; 6 of them are never heard in B (they read A -> C)."""
    def run(halflife_s: float) -> dict[tuple[str, str], dict]:
        tr = FlowTracker(FlowSettings(k=5, unheard_halflife_s=halflife_s))
        for i in range(60):
            in_b = 3 if i < 30 else 2 if i < 42 else 1 if i < 54 else 0
            in_a = [("A", 0.0), ("A", 0.5)]
            steps = in_a + [("B", 1.0 + 0.2 * j) for j in range(in_b)] + [("C", 3.0), ("C", 3.5), ("C", 4.0)]
            for zone, m in steps:
                tr.observe(zone, f"p{i}", T0 + int(m * MIN), -60, False)
        return {(f["origin"], f["dest"]): f for iv in tr.close(T0 + 30 * MIN) for f in iv["flows"]}

    seen, corrected = run(0.0), run(3600.0)
    assert (seen[("A", "B")]["count"], seen[("B", "C")]["count"], seen[("A", "C")]["count"]) == (54, 54, 6)
    unheard = 12 * 11 / (2 * 13)  # f1 = 12, f2 = 12: 5.1 (truth: 6)
    assert corrected[("A", "B")]["count"] == round(54 + unheard)
    assert corrected[("B", "C")]["count"] == round(54 + unheard)
    assert corrected[("A", "C")]["count"] == 3  # 6 - 5.1, held at half what was seen
    assert corrected[("A", "B")]["tracked"] == 54  # the k rule and "tracked" stay what was seen


def test_a_negative_half_life_is_refused() -> None:
    with pytest.raises(ValueError, match="half-lives"):
        FlowSettings(unheard_halflife_s=-1)
