"""``ruff check`` over the project, with the rules of pyproject.toml [tool.ruff] (issue #14).

Why a test: `make test` runs it, so an unused import, a name defined twice or a blind except without its
reason fails the suite, not a later review.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_project_passes_ruff_check() -> None:
    out = ruff(".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_reads_the_projects_rules_and_flags_what_they_forbid(tmp_path: Path) -> None:
    """The same configuration on a file with an unused import and a blind except: both are reported."""
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "bad.py").write_text("import os\n\ntry:\n    pass\nexcept Exception:\n    pass\n")
    out = ruff(".", cwd=tmp_path)
    assert out.returncode == 1
    assert "F401" in out.stdout and "BLE001" in out.stdout
