"""Fixtures for the edge tests (helpers in edge_harness.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from edge_harness import EdgeHarness, make_config, provision_edge
from centre.services import InfluxServer, MosquittoServer


@pytest.fixture
def make_edge(tmp_path: Path) -> Iterator[Callable[..., EdgeHarness]]:
    made: list[EdgeHarness] = []

    def make(broker: MosquittoServer, influx: InfluxServer, database: str, **edge: Any) -> EdgeHarness:
        cfg = make_config(tmp_path, broker, influx.url, database, **edge)
        provision_edge(cfg, broker)
        h = EdgeHarness(cfg, broker, influx.url, database, tmp_path)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()
