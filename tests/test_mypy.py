"""``mypy`` over the project, with pyproject.toml [tool.mypy] (issue #14, item 7): ``--strict`` for the shared
package floorops/ and the hub core (hub/core.py, hub/state.py, hub/views.py, hub/rules/), check_untyped_defs
for the rest.

Why a test: `make test` runs it, so a wrong type in a contract every component builds on fails the suite.
The cache goes to a temporary folder: nothing is written into the work tree, and one run stays independent
of the next (about 30 s from a cold cache on the 2-core CI machine).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mypy(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache), "--no-error-summary",
                           "--no-color-output", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_the_project_passes_mypy(tmp_path: Path) -> None:
    out = mypy(cwd=ROOT, cache=tmp_path / "cache")
    assert out.returncode == 0, out.stdout + out.stderr


def test_floorops_and_the_hub_core_are_strict_and_the_components_are_checked(tmp_path: Path) -> None:
    """The same configuration on an untyped function in floorops/ and in hub/: strict rejects the first
    only, and a wrong type inside an untyped function is still found in the component."""
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    for pkg in ("floorops", "edge", "hub", "models", "firmware_sim", "console", "centre"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "floorops" / "bad.py").write_text("def untyped(x):\n    return x\n")
    (tmp_path / "hub" / "bad.py").write_text("def untyped(x):\n    return x\n\n\ndef wrong():\n    return 1 + ''\n")
    (tmp_path / "hub" / "core.py").write_text("def untyped(x):\n    return x\n")  # the hub core is strict too
    out = mypy(cwd=tmp_path, cache=tmp_path / "cache")
    assert out.returncode == 1
    assert "floorops/bad.py:1: error: Function is missing a type annotation" in out.stdout, out.stdout
    assert "hub/bad.py:1:" not in out.stdout, out.stdout
    assert "hub/bad.py:6: error: Unsupported operand types" in out.stdout, out.stdout
    assert "hub/core.py:1: error: Function is missing a type annotation" in out.stdout, out.stdout
