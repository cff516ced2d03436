"""The layering of docs/architecture.md ("Layers"), as import-linter contracts in pyproject.toml.

Why a test: a wrong-way import (the edge importing the simulator, the shared package importing the hub,
a cycle inside the hub) reads fine in its own file; only the whole import graph shows it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("floorops", "edge", "hub", "models", "console", "firmware_sim", "centre")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the packages found in ``cwd``, with the contracts of ``cwd/pyproject.toml``."""
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", code, "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_the_project_keeps_every_layering_contract() -> None:
    out = lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout and " BROKEN" not in out.stdout


def _project(tmp: Path, files: dict[str, str]) -> Path:
    """A project with the real contracts and empty packages, plus ``files``."""
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    for p in PACKAGES:
        (tmp / p).mkdir()
        (tmp / p / "__init__.py").write_text("")
    # The launcher imports the hub's provisioning, as the real one does: allowed above the components.
    (tmp / "hub" / "provisioning.py").write_text("")
    (tmp / "centre" / "launcher.py").write_text("from hub import provisioning\n")
    for name, text in files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)
    return tmp


def test_a_clean_project_passes_so_the_failures_below_are_the_imports(tmp_path: Path) -> None:
    out = lint_imports(_project(tmp_path, {}))
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_edge_importing_the_simulator_breaks_the_independence_contract(tmp_path: Path) -> None:
    out = lint_imports(_project(tmp_path, {"firmware_sim/engine.py": "", "edge/calibration.py":
                                           "from firmware_sim.engine import *\n"}))
    assert out.returncode == 1
    assert "edge is not allowed to import firmware_sim" in out.stdout
    assert "edge.calibration -> firmware_sim.engine" in out.stdout


def test_the_shared_package_importing_a_component_breaks_its_contract(tmp_path: Path) -> None:
    out = lint_imports(_project(tmp_path, {"hub/core.py": "", "floorops/topics.py": "import hub.core\n"}))
    assert out.returncode == 1
    assert "floorops (shared contracts) imports no component BROKEN" in out.stdout
    assert "floorops.topics -> hub.core" in out.stdout


def test_a_cycle_between_two_modules_of_the_hub_breaks_the_acyclic_contract(tmp_path: Path) -> None:
    out = lint_imports(_project(tmp_path, {"hub/api/__init__.py": "", "hub/api/system.py": "from hub import openapi\n",
                                           "hub/openapi.py": "from hub.api import system\n"}))
    assert out.returncode == 1
    assert "No cycles are allowed in hub" in out.stdout


def test_the_shared_package_importing_the_launcher_breaks_its_contract(tmp_path: Path) -> None:
    out = lint_imports(_project(tmp_path, {"floorops/site.py": "from centre import launcher\n"}))
    assert out.returncode == 1
    assert "floorops (shared contracts) imports no component BROKEN" in out.stdout
    assert "floorops.site -> centre.launcher" in out.stdout


def test_a_component_importing_the_launcher_package_breaks_its_contract(tmp_path: Path) -> None:
    out = lint_imports(_project(tmp_path, {"centre/services.py": "", "hub/app.py": "from centre import services\n"}))
    assert out.returncode == 1
    assert "no component imports centre BROKEN" in out.stdout
