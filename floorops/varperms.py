"""var/ is private: files mode 600, folders 700 (hub.sqlite, secrets, keys, buffers, logs).

``secure_var`` sets umask 077 for the calling process, so every file it and its children (the broker,
influxd, the hub, the edge) create is its owner's only, and takes group and other access away from what
an older run left. Symbolic links and device nodes (the simulator's serial lines point at /dev/pts) are
left alone: chmod would follow a link to whatever it names.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

log = logging.getLogger("floorops.varperms")

UMASK = 0o077


def secure_var(var: Path) -> int:
    """umask 077 here, then folders 700 and regular files without group/other bits; how many it changed."""
    os.umask(UMASK)
    fixed = 0
    for root, dirs, files in os.walk(var):  # does not follow links into other folders
        for name, want_dir in [(root, True), *((os.path.join(root, f), False) for f in files)]:
            try:
                st = os.lstat(name)
            except FileNotFoundError:  # removed meanwhile (a rotated log, a temp file)
                continue
            mode = stat.S_IMODE(st.st_mode)
            if want_dir and stat.S_ISDIR(st.st_mode) and mode != 0o700:
                os.chmod(name, 0o700)
            elif not want_dir and stat.S_ISREG(st.st_mode) and mode & 0o077:
                os.chmod(name, mode & ~0o077)
            else:
                continue
            fixed += 1
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
    if fixed:
        log.info("made older files under var/ private to their owner", extra={"var": str(var), "changed": fixed})
    return fixed


def write_private(path: Path, data: bytes | str, mode: int = 0o600) -> None:
    """Replace ``path`` atomically with ``data``, readable by its owner only (secrets, keys, credentials).

    The content goes to a new temporary file in the same folder (mode 600 from its creation: never readable
    by others, not even briefly), is fsynced, then renamed over ``path``: a crash or a failed write leaves
    the old file or the new one, never half of one, and two writers never share a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
