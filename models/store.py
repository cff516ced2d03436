"""Saved models: skops files with a JSON metadata file beside each, loaded only with a trusted-types list.

Why skops: a pickle runs whatever code its author put in it; skops rebuilds objects from a schema and
refuses any type not on the list below. The metadata JSON carries the file's SHA-256, so a truncated or
swapped file is rejected before it is parsed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import skops.io as sio

log = logging.getLogger("models.store")

# Every type a saved SiteModel may contain beyond skops' defaults. Anything else refuses to load.
TRUSTED_TYPES = [
    "models.store.SiteModel",
    "models.forecaster.QuantileForecaster",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # HistGradientBoostingRegressor keeps partial(check_array, ...); skops checks the wrapped function too.
    "functools.partial",
    "sklearn.utils.validation.check_array",
]


class ModelLoadError(RuntimeError):
    """A saved model is missing, damaged, or contains a type that is not trusted."""


class SiteModel:
    """What one training run produces: a forecaster per target, sharing the history's bucket width."""

    def __init__(self, forecasters: dict[str, Any], freq_min: int, timezone: str) -> None:
        self.forecasters = forecasters
        self.freq_min = freq_min
        self.timezone = timezone


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(model: SiteModel, directory: str | Path, metadata: dict[str, Any], keep: int = 10,
               now: dt.datetime | None = None) -> Path:
    """Write ``<UTC stamp>.skops`` and ``<UTC stamp>.json`` atomically; keep the newest ``keep`` models."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    when = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    stamp = when.strftime("%Y%m%dT%H%M%S%fZ")
    path = d / f"{stamp}.skops"
    tmp = path.with_suffix(".skops.tmp")
    sio.dump(model, tmp)
    os.replace(tmp, path)
    meta = dict(metadata, file=path.name, sha256=_sha256(path), saved_at=when.isoformat())
    meta_path = path.with_suffix(".json")
    tmp_meta = meta_path.with_suffix(".json.tmp")
    tmp_meta.write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    os.replace(tmp_meta, meta_path)  # written last: a model without its metadata is never "good"
    for old in sorted(d.glob("*.skops"))[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    return path


def load_model(path: str | Path) -> tuple[SiteModel, dict[str, Any]]:
    """Load one saved model after checking its metadata, checksum and every type it contains."""
    p = Path(path)
    meta_path = p.with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{meta_path.name}: unreadable metadata ({exc})") from None
    try:
        digest = _sha256(p)
    except OSError as exc:
        raise ModelLoadError(f"{p.name}: {exc}") from None
    if meta.get("sha256") != digest:
        raise ModelLoadError(f"{p.name}: checksum does not match its metadata")
    try:
        untrusted = sio.get_untrusted_types(file=p)
        refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
        if refused:
            raise ModelLoadError(f"{p.name}: refusing untrusted types {', '.join(refused)}")
        model = sio.load(p, trusted=[t for t in untrusted if t in TRUSTED_TYPES])
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - skops raises many kinds on a damaged file; all mean "not loadable"
        raise ModelLoadError(f"{p.name}: cannot load ({type(exc).__name__}: {exc})") from None
    if not isinstance(model, SiteModel):
        raise ModelLoadError(f"{p.name}: holds a {type(model).__name__}, not a SiteModel")
    return model, meta


def newest_good_model(directory: str | Path) -> tuple[SiteModel, dict[str, Any], Path] | None:
    """The newest model that loads; damaged or untrusted ones are logged and skipped."""
    d = Path(directory)
    for path in sorted(d.glob("*.skops"), reverse=True):
        try:
            model, meta = load_model(path)
        except ModelLoadError as exc:
            log.warning("skipping a saved model", extra={"file": path.name, "error": str(exc)})
            continue
        return model, meta, path
    return None
