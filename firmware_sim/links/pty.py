"""Pseudo-terminal pairs made with socat: one end for the edge (the "device file"), one for us.

``socat pty,link=<edge end> pty,link=<sim end>`` joins two pseudo-terminals back to back. We keep the
edge's end open ourselves (without reading it), so that socat does not see the line hang up when the
edge closes and reopens its port.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


class PtyError(RuntimeError):
    """socat is missing or the pair did not come up."""


@dataclass
class PtyPair:
    """``edge_path`` is what the edge opens; ``sim_path`` is our end."""

    edge_path: Path
    sim_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _hold_fd: int | None = field(default=None, repr=False)

    def start(self, timeout_s: float = 5.0) -> "PtyPair":
        socat = shutil.which("socat")
        if socat is None:
            raise PtyError("socat is not installed (Debian package socat)")
        for p in (self.edge_path, self.sim_path):
            p.parent.mkdir(parents=True, exist_ok=True)
            if p.is_symlink() or p.exists():
                p.unlink()
        self.proc = subprocess.Popen(
            [socat, "-d", f"pty,raw,echo=0,link={self.edge_path}", f"pty,raw,echo=0,link={self.sim_path}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while not (self.edge_path.exists() and self.sim_path.exists()):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise PtyError(f"socat exited: {err.strip()}")
            if time.monotonic() > deadline:
                self.stop()
                raise PtyError(f"socat did not create {self.edge_path} in {timeout_s} s")
            time.sleep(0.01)
        self._hold_fd = os.open(self.edge_path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        log.info("serial line ready", extra={"edge_path": str(self.edge_path), "pid": self.proc.pid})
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self._hold_fd is not None:
            os.close(self._hold_fd)
            self._hold_fd = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(3)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None
        for p in (self.edge_path, self.sim_path):
            if p.is_symlink():
                p.unlink()


class LineWriter:
    """Our end of a probe's line, written without blocking; bytes that do not fit are dropped and counted."""

    def __init__(self, pair: PtyPair) -> None:
        self.pair = pair
        self.fd = os.open(pair.sim_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.dropped = 0
        self.written = 0

    def write(self, data: bytes) -> None:
        try:
            n = os.write(self.fd, data)
            self.written += n
            self.dropped += len(data) - n
        except BlockingIOError:
            self.dropped += len(data)  # nobody reads the line: a real probe's buffer overflows too
        except OSError as exc:
            self.dropped += len(data)
            log.warning("serial write failed", extra={"path": str(self.pair.sim_path), "error": str(exc)})

    def close(self) -> None:
        os.close(self.fd)
