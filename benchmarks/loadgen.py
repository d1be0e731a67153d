"""A lean HTTP/1.1 client for the benchmarks' request floods (issue 16).

httpx, which the benchmarks use for everything else, costs about 4 ms of CPU per request in the
benchmark's own process under 16 concurrent requests (its connection pool and its layers): the
availability check measured 167 checks/s with the benchmark process at 72% of a core and the
customs service at 33% (session 9, quiet). The benchmark then measured itself. This client keeps
one keep-alive connection per concurrent caller and does only what a request needs: write the
request bytes, read the status line, the headers and a ``Content-Length`` or chunked body. Its
own CPU per request is printed beside each figure it produces (``client_cpu_us``), so a reader can
see it is not the bound.

Only for the benchmarks: no TLS, no redirects, no proxies, no decompression; a response that asks
to close the connection (or a dropped one) is followed by a new connection.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; the last value of a repeated header
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One keep-alive HTTP/1.1 connection to ``base_url`` (http only)."""

    def __init__(self, base_url: str, headers: Mapping[str, str] | None = None) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"loadgen speaks plain http only: {base_url!r}")
        self.host = url.hostname
        self.port = url.port or 80
        self.prefix = url.path.rstrip("/")
        base = {"Host": f"{self.host}:{self.port}", "Connection": "keep-alive", **(headers or {})}
        self._base_headers = "".join(f"{k}: {v}\r\n" for k, v in base.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self._reader = self._writer = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        target = self.prefix + path
        if params:
            target += "?" + urllib.parse.urlencode(params)
        body = b"" if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        head = f"{method} {target} HTTP/1.1\r\n{self._base_headers}"
        if headers:
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        data = (head + "\r\n").encode("latin-1") + body
        for attempt in (1, 2):
            reader, writer = await self._open()
            try:
                writer.write(data)
                response = await self._read(reader)
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                await self.close()
                if attempt == 2:
                    raise
                continue  # a keep-alive connection the server had closed: once more, on a new one
            if response.headers.get("connection", "").lower() == "close":
                await self.close()
            return response
        raise AssertionError("unreachable")

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Response:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # no trailers are sent to us
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(parts)
        else:
            body = b""  # 204/304, or a body to the close (not used by our services)
        return Response(status, headers, body)


@dataclass
class Flood:
    """What :func:`flood` measured: each request's latency (s), the wall time, the non-2xx count,
    and the benchmark process's CPU per request (µs) while it ran."""

    latencies: list[float]
    elapsed: float
    errors: int
    client_cpu_us: float

    @property
    def per_s(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


async def flood(
    base_url: str,
    n: int,
    concurrency: int,
    one: Callable[[Connection, int], Awaitable[Response]],
    *,
    headers: Mapping[str, str] | None = None,
    warmup: int = 0,
) -> Flood:
    """``n`` requests made by ``one(conn, i)``, ``concurrency`` at a time, each caller on its own
    keep-alive connection; ``warmup`` requests first (per connection, not counted)."""
    conns = [Connection(base_url, headers) for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0
    next_i = 0
    try:
        for conn in conns:
            for w in range(warmup):
                await one(conn, -1 - w)

        async def caller(conn: Connection) -> None:
            nonlocal next_i, errors
            while next_i < n:
                i = next_i
                next_i += 1
                t = time.perf_counter()
                r = await one(conn, i)
                latencies.append(time.perf_counter() - t)
                if not 200 <= r.status < 300:
                    errors += 1

        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(caller(c) for c in conns))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return Flood(latencies, elapsed, errors, cpu / max(1, len(latencies)) * 1e6)
