"""Every ``# noqa`` and ``# type: ignore`` says why, after `` - `` (issue #14, item 7).

``# noqa: E402 - why``; mypy refuses any text after a ``type: ignore``'s codes, so there the reason is a
comment of its own: ``# type: ignore[attr-defined]  # - why``.

A bare suppression hides a finding without telling the next reader whether it is deliberate; with its
reason it can be judged, and removed when the reason goes.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".venv", "var", "deploy", ".git", "node_modules", "build", "floorops.egg-info"}

SUPPRESSION = re.compile(r"#\s*(noqa|type:\s*ignore)\b")
# The codes, then ` - ` and some words (for type: ignore, in a comment of its own).
WITH_REASON = re.compile(r"#\s*(noqa(:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*)? - \S"
                         r"|type:\s*ignore(\[[a-z0-9-]+(,\s*[a-z0-9-]+)*\])?\s+# - \S)")


def python_files() -> list[Path]:
    """The project's Python files, but this one (its examples are bare on purpose)."""
    return sorted(p for p in ROOT.rglob("*.py")
                  if not SKIP_DIRS & set(p.relative_to(ROOT).parts) and p != Path(__file__).resolve())


def bare_suppressions(text: str) -> list[tuple[int, str]]:
    """(line number, line) of each suppression comment without its `` - reason``."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        for m in SUPPRESSION.finditer(line):
            if not WITH_REASON.match(line, m.start()):
                out.append((n, line.strip()))
    return out


def test_every_noqa_and_type_ignore_says_why() -> None:
    found = []
    for path in python_files():
        rel = path.relative_to(ROOT).as_posix()
        found += [f"{rel}:{n}: {line}" for n, line in bare_suppressions(path.read_text(encoding="utf-8"))]
    assert not found, "suppressions without ` - <why>`:\n" + "\n".join(found)


def test_the_check_tells_a_reason_from_none() -> None:
    assert bare_suppressions("import os  # noqa: F401\n") == [(1, "import os  # noqa: F401")]
    assert bare_suppressions("x = f()  # type: ignore[attr-defined]\n")
    assert bare_suppressions("x = f()  # type: ignore\n")
    assert bare_suppressions("import os  # noqa\n")
    assert bare_suppressions("import os  # noqa: F401 (fixture)\n")
    assert not bare_suppressions("import os  # noqa: F401 - a pytest fixture, used by name\n")
    assert not bare_suppressions("x = f()  # type: ignore[attr-defined, union-attr]  # - set by extra=\n")
    assert bare_suppressions("x = f()  # type: ignore[attr-defined] - mypy rejects this form\n")
    assert not bare_suppressions("x = 1  # no suppression here\n")
