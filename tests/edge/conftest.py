"""Fixtures for the edge tests (helpers in edge_harness.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from edge_harness import EdgeHarness, make_config, provision_edge
from centre.services import InfluxServer, MosquittoServer


@pytest.fixture
def make_edge(tmp_path: Path, site_id: str) -> Iterator[Callable[..., EdgeHarness]]:
    """Edge agents on the test's own site (the ``site_id`` fixture), stopped at its end."""
    made: list[EdgeHarness] = []

    def make(broker: MosquittoServer, influx: InfluxServer, database: str, **edge: Any) -> EdgeHarness:
        cfg = make_config(tmp_path, broker, influx.url, database, site_id, **edge)
        provision_edge(cfg, broker)
        h = EdgeHarness(cfg, broker, influx.url, database, tmp_path)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()
