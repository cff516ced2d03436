"""USB Wi-Fi probes: the NMEA-style line protocol over a serial port (pyserial), one thread per port.

The reader only frames bytes into lines; the rules of a line (checksum, fields, ranges) are the
contract's (floorops.contract.parse_probe_line, applied by the pipeline). Framing follows the contract:
a line starts at ``$`` and ends at CR LF; a ``$`` inside a line starts a new one (the broken part is
rejected); bytes outside any line are noise (rejected); lines over 256 bytes are discarded (rejected).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

import serial

from floorops.contract import MAX_LINE_BYTES

from edge.pipeline import Item, ProbeLine, SerialReject

log = logging.getLogger(__name__)

_BLANK = b" \t\r\n\x00"


class LineFramer:
    """Bytes in, probe lines and framing rejects out; keeps the partial line between calls."""

    def __init__(self, port: str) -> None:
        self.port = port
        self.buf = bytearray()
        self.discarding = False  # inside an over-long line: drop bytes until its end or the next '$'

    def _noise(self, data: bytes, out: list[Item]) -> None:
        if data.strip(_BLANK):
            out.append(SerialReject(self.port, "noise", "bytes outside a $...*hh line", bytes(data[:512])))

    def feed(self, data: bytes) -> list[Item]:
        out: list[Item] = []
        self.buf += data
        while self.buf:
            if self.discarding:
                cut = min((i for i in (self.buf.find(b"$"), self.buf.find(b"\n")) if i != -1), default=-1)
                if cut == -1:
                    self.buf.clear()
                    break
                del self.buf[: cut + (1 if self.buf[cut:cut + 1] == b"\n" else 0)]
                self.discarding = False
                continue
            start = self.buf.find(b"$")
            if start == -1:
                # Keep nothing: without a '$' it cannot become a line.
                self._noise(bytes(self.buf), out)
                self.buf.clear()
                break
            if start:
                self._noise(bytes(self.buf[:start]), out)
                del self.buf[:start]
            end = self.buf.find(b"\n")
            nxt = self.buf.find(b"$", 1)
            if nxt != -1 and (end == -1 or nxt < end):
                # A new '$' before the end of this line: resynchronise on it.
                out.append(SerialReject(self.port, "bad_frame", "line interrupted by a new '$'",
                                        bytes(self.buf[:min(nxt, MAX_LINE_BYTES)])))
                del self.buf[:nxt]
                continue
            if end == -1:
                if len(self.buf) > MAX_LINE_BYTES + 1:
                    out.append(SerialReject(self.port, "too_long", f"line longer than {MAX_LINE_BYTES} bytes",
                                            bytes(self.buf[:MAX_LINE_BYTES])))
                    self.buf.clear()
                    self.discarding = True
                break
            raw = bytes(self.buf[:end]).rstrip(b"\r")
            del self.buf[: end + 1]
            if len(raw) > MAX_LINE_BYTES:
                out.append(SerialReject(self.port, "too_long", f"line longer than {MAX_LINE_BYTES} bytes",
                                        raw[:MAX_LINE_BYTES]))
                continue
            out.append(ProbeLine(self.port, raw))
        return out


class SerialProbeReader(threading.Thread):
    """Reads one probe port until stopped; reopens the port with backoff when it goes away."""

    def __init__(self, path: str, baudrate: int, put: Callable[[Item], None], stop: threading.Event) -> None:
        super().__init__(name=f"serial-{Path(path).name}", daemon=True)
        self.path = path
        self.baudrate = baudrate
        self.put = put
        self.stop_event = stop
        self.framer = LineFramer(Path(path).name)

    def run(self) -> None:
        delay = 0.5
        while not self.stop_event.is_set():
            try:
                with serial.Serial(self.path, self.baudrate, timeout=0.2) as port:
                    log.info("serial probe port open", extra={"path": self.path})
                    delay = 0.5
                    while not self.stop_event.is_set():
                        data = port.read(4096)
                        if data:
                            for item in self.framer.feed(data):
                                self.put(item)
            except (serial.SerialException, OSError) as exc:
                log.warning("serial probe port unavailable", extra={"path": self.path, "error": str(exc)})
                self.stop_event.wait(delay)
                delay = min(delay * 2, 10.0)
