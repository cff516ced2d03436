"""Erlang B/C against published reference values and an exact rational computation."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from fractions import Fraction

import pytest

from models.erlang import average_speed_of_answer, erlang_b, erlang_c, required_positions, service_level


def exact_erlang_c(n: int, a: int) -> Fraction:
    """The textbook formula with exact integers: A^N/N! * N/(N-A) / (sum_{k<N} A^k/k! + A^N/N! * N/(N-A))."""
    a = Fraction(a)
    terms = [a**k / math.factorial(k) for k in range(n)]
    top = a**n / math.factorial(n) * Fraction(n) / (n - a)
    return top / (sum(terms) + top)


def test_api_example_gives_raw_14_and_20_positions() -> None:
    """api.md: 100 arrivals per 30 min, AHT 3 min, 80% within 20 s, max occupancy 0.85, shrinkage 0.3."""
    r = required_positions(100, 30, 3, 20, 0.8, max_occupancy=0.85, shrinkage=0.3)
    assert (r.raw_positions, r.positions) == (14, 20)
    assert r.service_level >= 0.8
    assert r.occupancy == pytest.approx(10 / 14)


def test_published_call_centre_values() -> None:
    # The classic worked example (10 Erlangs: 100 calls / 30 min, 180 s AHT, 20 s target):
    # 11 agents -> P(wait) 68.21%, service level 38.96%; 14 agents -> 17.41%, 88.84%.
    assert erlang_c(11, 10) == pytest.approx(0.6821, abs=5e-5)
    assert service_level(11, 10, 180, 20) == pytest.approx(0.3896, abs=5e-5)
    assert erlang_c(14, 10) == pytest.approx(0.1741, abs=5e-5)
    assert service_level(14, 10, 180, 20) == pytest.approx(0.8884, abs=5e-5)
    # Erlang B tables: 10 trunks carry 4.46 Erlangs at 1% blocking, 5.08 at 2%.
    assert erlang_b(10, 4.46) == pytest.approx(0.01, abs=2e-4)
    assert erlang_b(10, 5.08) == pytest.approx(0.02, abs=2e-4)


@pytest.mark.parametrize("n,a", [(2, 1), (11, 10), (50, 45), (300, 280), (600, 590)])
def test_erlang_c_equals_exact_formula_at_hundreds_of_servers(n: int, a: int) -> None:
    assert erlang_c(n, a) == pytest.approx(float(exact_erlang_c(n, a)), rel=1e-9)


def test_no_overflow_and_sane_at_extreme_load() -> None:
    r = required_positions(120_000, 60, 4, 20, 0.9)  # 8000 Erlangs
    assert 8000 < r.raw_positions < 8300
    assert 0.9 <= r.service_level <= 1
    assert math.isfinite(r.waiting_probability)
    # One server fewer would miss the target: the answer is the smallest.
    assert service_level(r.raw_positions - 1, 8000, 240, 20) < 0.9


def test_overloaded_and_idle_edges() -> None:
    assert erlang_c(5, 5) == 1.0 and erlang_c(4, 5) == 1.0
    assert average_speed_of_answer(5, 5, 60) == math.inf
    assert required_positions(0, 60, 5, 20, 0.8).positions == 0
    with pytest.raises(ValueError):
        required_positions(10, 60, 5, 20, 1.5)
    with pytest.raises(ValueError):
        required_positions(10, 0, 5, 20, 0.8)


def test_cli_prints_the_api_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "models", "staffing", "--arrivals", "100", "--interval-min", "30", "--aht-min", "3",
         "--target-answer-s", "20", "--service-level", "0.8", "--max-occupancy", "0.85", "--shrinkage", "0.3"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    doc = json.loads(out.stdout)
    assert set(doc) == {"raw_positions", "positions", "service_level", "occupancy", "waiting_probability"}
    assert (doc["raw_positions"], doc["positions"]) == (14, 20)


def test_cli_bad_input_is_a_clear_error_not_a_traceback() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "models", "staffing", "--arrivals", "100", "--interval-min", "30", "--aht-min", "3",
         "--target-answer-s", "20", "--service-level", "1.5"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2
    assert out.stdout == ""
    assert "service level" in out.stderr and "Traceback" not in out.stderr
