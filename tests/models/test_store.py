"""A model's round trip through skops, and refusal of damaged or untrusted files."""

from __future__ import annotations

import datetime as dt
import fractions
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from models.forecaster import QuantileForecaster
from models.store import ModelLoadError, SiteModel, load_model, newest_good_model, save_model
from models.synthetic import synthetic_history


@pytest.fixture(scope="module")
def small_model() -> tuple[SiteModel, object]:
    hist = synthetic_history(weeks=3, freq_min=60, seed=4)
    f = QuantileForecaster("arrivals", max_iter=25, max_rows=4000, holidays=("2026-01-19",)).fit(hist)
    return SiteModel({"arrivals": f}, 60, hist.timezone), hist


def test_round_trip_predicts_the_same(tmp_path: Path, small_model) -> None:
    model, hist = small_model
    path = save_model(model, tmp_path, {"train_range": ["a", "b"], "backtest": {"arrivals": {"mae": 1.0}}})
    loaded, meta = load_model(path)
    assert path.suffix == ".skops" and path.with_suffix(".json").exists()
    assert meta["backtest"]["arrivals"]["mae"] == 1.0 and meta["file"] == path.name and len(meta["sha256"]) == 64
    a = model.forecasters["arrivals"].predict(hist, 300, 48).values
    b = loaded.forecasters["arrivals"].predict(hist, 300, 48).values
    np.testing.assert_array_equal(a, b)
    assert loaded.forecasters["arrivals"].holidays == ("2026-01-19",)


def test_damaged_file_is_skipped_for_the_previous_good_one(tmp_path: Path, small_model) -> None:
    model, _ = small_model
    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    good = save_model(model, tmp_path, {}, now=t0)
    newer = save_model(model, tmp_path, {}, now=t0 + dt.timedelta(hours=1))
    data = bytearray(newer.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newer.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="checksum"):
        load_model(newer)
    found = newest_good_model(tmp_path)
    assert found is not None and found[2] == good
    # A model file without its metadata (a crash between the two writes) is not "good" either.
    newer.with_suffix(".json").unlink()
    assert newest_good_model(tmp_path)[2] == good  # type: ignore[index]  # - found above, so not None


def _with_metadata(path: Path) -> None:
    import hashlib

    path.with_suffix(".json").write_text(json.dumps({"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}))


def test_untrusted_types_are_refused(tmp_path: Path) -> None:
    evil = SiteModel({"arrivals": fractions.Fraction(1, 3)}, 60, "UTC")
    path = tmp_path / "20260301T000000000000Z.skops"
    sio.dump(evil, path)
    _with_metadata(path)
    with pytest.raises(ModelLoadError, match="untrusted types fractions.Fraction"):
        load_model(path)
    assert newest_good_model(tmp_path) is None


def test_a_pickle_is_never_loaded(tmp_path: Path, small_model) -> None:
    model, _ = small_model
    path = tmp_path / "20260301T000000000000Z.skops"
    path.write_bytes(pickle.dumps(model))
    _with_metadata(path)
    with pytest.raises(ModelLoadError, match="cannot load"):
        load_model(path)


def test_only_the_newest_models_are_kept(tmp_path: Path, small_model) -> None:
    model, _ = small_model
    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    paths = [save_model(model, tmp_path, {}, keep=2, now=t0 + dt.timedelta(minutes=i)) for i in range(4)]
    assert sorted(tmp_path.glob("*.skops")) == paths[2:]
    assert sorted(tmp_path.glob("*.json")) == [p.with_suffix(".json") for p in paths[2:]]
