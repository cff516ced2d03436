"""What a live hub must answer once it has a model with queue forecasts (shared by models and simulator tests)."""

from __future__ import annotations

from tests.hub.conftest import http
from tests.hub.live import LiveHub


def assert_hub_serves_queue_forecasts(live: LiveHub) -> str:
    """Log in, wait for the model, check REG-1's arrivals and LAB-1's waiting; returns the token."""
    token = live.login()
    status, rows = live.get_when_models_loaded("/api/forecast?queue=REG-1&hours=2", token)
    assert status == 200 and len(rows) == 8 and all(r["p10"] <= r["p50"] <= r["p90"] for r in rows)
    status, rows = http(live.url + "/api/forecast?queue=LAB-1&target=waiting&hours=1", token=token)
    assert status == 200 and len(rows) == 4
    return token
