"""Simulated devices: each builds exactly what the real one sends (floorops.contract), no I/O here.

Each simulated kind registers once, as ``SIM`` (a :class:`~firmware_sim.devices.base.SimModel`) in the
module named after the kind here (``firmware_sim.devices.kiosk``), or beside a plugin kind's ``KIND`` in
its own module. :func:`simulated` finds them for the kinds of an installation: there is no list of them.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Mapping

from firmware_sim.devices.base import SimModel
from firmware_sim.faults import FaultCatalog
from floorops.kinds import KindRegistry


@dataclass(frozen=True)
class Simulated:
    """The simulator's models of an installation's kinds (a kind without one is not simulated), and the
    faults they can be given."""

    models: Mapping[str, SimModel]
    faults: FaultCatalog


def sim_model(kinds: KindRegistry, name: str) -> SimModel | None:
    """The ``SIM`` of kind ``name``: beside the plugin's ``KIND``, or in firmware_sim.devices.<name>."""
    for module in (kinds.modules.get(name), f"{__name__}.{name}"):
        if module is None or importlib.util.find_spec(module) is None:
            continue
        sim = getattr(importlib.import_module(module), "SIM", None)
        if isinstance(sim, SimModel):
            if sim.kind != name:
                raise ValueError(f"{module}.SIM models {sim.kind!r}, not {name!r}")
            return sim
    return None


def simulated(kinds: KindRegistry) -> Simulated:
    """The models and the fault catalogue of ``kinds`` (a site's ``site.kinds``)."""
    models = {k.name: m for k in kinds if (m := sim_model(kinds, k.name)) is not None}
    return Simulated(models, FaultCatalog({n: (m.models, m.faults) for n, m in models.items()}))
