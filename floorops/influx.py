"""InfluxDB through its 1.x HTTP API: line protocol to ``/write``, InfluxQL to ``/query``.

Why 1.x: it is the API every InfluxDB server answers — 1.x natively, 2.x through its v1 compatibility
endpoints (map a DBRP and pass a token as the password), 3.x (Core/Enterprise) natively. The Python
``influxdb-client`` speaks only the 2.x API, so it is not used.
"""

from __future__ import annotations

import gzip as gzip_mod
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from functools import lru_cache
from typing import Any, Iterable, Mapping, cast

import aiohttp

FieldValue = int | float | str | bool


class InfluxWriteError(RuntimeError):
    """A write or query failed; ``retryable`` says whether trying again later can succeed."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@lru_cache(maxsize=65536)
def _escape_key(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def _escape_measurement(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", r"\,").replace(" ", r"\ ")


def _field(v: FieldValue) -> str:
    """A field value in line protocol. Exact types first: the edge formats one a field for every device
    message, and ``isinstance`` chains were most of ``line``'s cost (4.1 -> 2.4 us a queue-screen point)."""
    t = type(v)
    if t is int:
        return f"{v}i"
    if t is str:
        s = cast(str, v)  # `t is str` does not narrow for mypy; cast costs no check
        if '"' in s or "\\" in s or "\n" in s:
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        return f'"{s}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v}i"
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("InfluxDB cannot store NaN or infinity")
        return repr(v)
    if isinstance(v, str):
        return _field(str(v))
    raise TypeError(f"unsupported field type {type(v).__name__}")


@lru_cache(maxsize=65536)
def _series_key(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """Measurement and tags, escaped and sorted; cached, as they repeat for every point of a device."""
    tag_part = "".join(
        f",{_escape_key(k)}={_escape_key(str(v))}" for k, v in sorted(tags) if v is not None and v != ""
    )
    return f"{_escape_measurement(measurement)}{tag_part}"


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue], ts_ns: int) -> str:
    """One point in line protocol; tags sorted (InfluxDB's fast path), empty tag values left out.

    On the edge's hot path: the series part and key escapes are cached."""
    if not fields:
        raise ValueError("a point needs at least one field")
    field_part = ",".join([f"{_escape_key(k)}={_field(v)}" for k, v in fields.items()])
    return f"{_series_key(measurement, tuple(tags.items()))} {field_part} {int(ts_ns)}"


def point_time_ns(ts_ms: int, seq: int | None) -> int:
    """The point's time: device ms, plus ``seq`` in the sub-ms digits so that a replay overwrites itself
    and two messages of one device within a millisecond stay distinct."""
    return ts_ms * 1_000_000 + ((seq or 0) % 1_000_000)


def _series(body: bytes) -> list[dict[str, Any]]:
    data = json.loads(body)
    out: list[dict[str, Any]] = []
    for result in data.get("results", []):
        if "error" in result:
            raise InfluxWriteError(f"query failed: {result['error']}", status=400, retryable=False)
        out.extend(result.get("series", []))
    return out


def _classify(status: int, text: str) -> InfluxWriteError:
    # 4xx: the data or query is wrong, retrying will not help (except 429 rate limiting); 5xx: the server.
    retryable = status >= 500 or status == 429
    return InfluxWriteError(f"InfluxDB answered {status}: {text.strip()[:300]}", status=status, retryable=retryable)


class InfluxClient:
    """Async client for one database; one aiohttp session, reused."""

    def __init__(self, url: str, database: str, username: str = "", password: str = "", timeout_s: float = 10.0):
        self.url = url.rstrip("/")
        self.database = database
        self._auth = {"u": username, "p": password} if username else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def write(self, lines: list[str] | bytes, gzip: bool = True, precision: str = "ns",
                    rp: str | None = None) -> None:
        body = lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode()
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if gzip:
            body = gzip_mod.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        params = {"db": self.database, "precision": precision, **self._auth}
        if rp:
            params["rp"] = rp  # a retention policy other than the database's default (floorops/retention.py)
        try:
            async with self._get_session().post(f"{self.url}/write", params=params, data=body, headers=headers) as r:
                if r.status != 204:
                    raise _classify(r.status, await r.text())
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise InfluxWriteError(f"InfluxDB unreachable: {type(exc).__name__}: {exc}") from None

    async def query(self, q: str, epoch: str = "ms") -> list[dict[str, Any]]:
        params = {"db": self.database, "q": q, "epoch": epoch, **self._auth}
        try:
            async with self._get_session().post(f"{self.url}/query", data=params) as r:
                body = await r.read()
                if r.status != 200:
                    raise _classify(r.status, body.decode(errors="replace"))
                return _series(body)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise InfluxWriteError(f"InfluxDB unreachable: {type(exc).__name__}: {exc}") from None

    async def ping(self) -> bool:
        try:
            async with self._get_session().get(f"{self.url}/ping") as r:
                return r.status == 204
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def create_database(self) -> None:
        await self.query(f'CREATE DATABASE "{self.database}"')

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def query_sync(url: str, database: str, q: str, epoch: str = "ms", username: str = "", password: str = "",
               timeout_s: float = 30.0) -> list[dict[str, Any]]:
    """Blocking query, for command-line tools."""
    params = {"db": database, "q": q, "epoch": epoch}
    if username:
        params.update(u=username, p=password)
    req = urllib.request.Request(f"{url.rstrip('/')}/query", data=urllib.parse.urlencode(params).encode())
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            return _series(r.read())
    except urllib.error.HTTPError as exc:
        raise _classify(exc.code, exc.read().decode(errors="replace")) from None
    except (urllib.error.URLError, OSError) as exc:
        raise InfluxWriteError(f"InfluxDB unreachable: {exc}") from None


def write_sync(url: str, database: str, lines: Iterable[str], username: str = "", password: str = "",
               timeout_s: float = 60.0) -> None:
    """Blocking gzip write, for command-line tools (history loading)."""
    body = gzip_mod.compress(("\n".join(lines) + "\n").encode(), compresslevel=1)
    params = {"db": database, "precision": "ns"}
    if username:
        params.update(u=username, p=password)
    req = urllib.request.Request(
        f"{url.rstrip('/')}/write?{urllib.parse.urlencode(params)}", data=body, method="POST",
        headers={"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            if r.status != 204:
                raise _classify(r.status, r.read().decode(errors="replace"))
    except urllib.error.HTTPError as exc:
        raise _classify(exc.code, exc.read().decode(errors="replace")) from None
    except (urllib.error.URLError, OSError) as exc:
        raise InfluxWriteError(f"InfluxDB unreachable: {exc}") from None


def rows(series: dict[str, Any]) -> list[dict[str, Any]]:
    """A series' values as dicts keyed by column."""
    cols = series.get("columns", [])
    return [dict(zip(cols, values)) for values in series.get("values", [])]
