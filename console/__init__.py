"""The web console: static files (console/static/) served by the hub at ``/``.

Plain ES modules, CSS and JSON catalogs; no build step, no CDN, so it works on hospital networks
without internet access. The hub serves :data:`STATIC_DIR` and answers ``/`` with ``index.html``.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR: Path = Path(__file__).resolve().parent / "static"
INDEX_HTML: Path = STATIC_DIR / "index.html"

__all__ = ["STATIC_DIR", "INDEX_HTML"]
