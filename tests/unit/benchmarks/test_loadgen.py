"""The benchmarks' lean HTTP client (benchmarks/loadgen.py) against a real socket server: it
reads both body framings our stack sends, keeps one connection per caller, opens a new one when
the server closes, and counts what is not a 2xx."""

from __future__ import annotations

import asyncio
import json

from benchmarks.loadgen import Connection, flood


class Server:
    """A tiny HTTP/1.1 server: answers each request on a connection in turn; ``/chunked`` in
    chunks, ``/close`` with ``Connection: close`` (and closes), ``/missing`` 404, the rest a
    JSON echo of what it got, with a Content-Length."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                lines = head[:-4].decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                target = lines[0].split(" ")[1].removeprefix("/api")
                self.requests.append((lines[0], headers, body))
                if target.startswith("/chunked"):
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n"
                    )
                elif target.startswith("/close"):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                    await writer.drain()
                    return
                else:
                    status = b"404 Not Found" if target.startswith("/missing") else b"200 OK"
                    out = json.dumps({"target": target, "body": body.decode()}).encode()
                    writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n" % len(out) + out)
                await writer.drain()
        finally:
            writer.close()


async def serving() -> tuple[Server, asyncio.base_events.Server, str]:
    server = Server()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    return server, listener, f"http://127.0.0.1:{port}/api"


def test_bodies_of_both_framings_headers_and_a_json_body_on_one_connection() -> None:
    async def run() -> None:
        server, listener, url = await serving()
        conn = Connection(url, {"Authorization": "Bearer k"})
        try:
            r = await conn.request("GET", "/x", params={"quantity": "1 0", "on": "2026-12-01"})
            assert r.status == 200
            assert r.json()["target"] == "/x?quantity=1+0&on=2026-12-01"
            r = await conn.request("GET", "/chunked")
            assert r.body == b"hello, world"
            r = await conn.request("POST", "/p", json_body={"a": "中"}, headers={"Idempotency-Key": "i1"})
            assert json.loads(r.json()["body"]) == {"a": "中"}
        finally:
            await conn.close()
            listener.close()
        assert server.connections == 1  # kept alive across the three
        line, headers, _ = server.requests[2]
        assert line == "POST /api/p HTTP/1.1"
        assert headers["authorization"] == "Bearer k"
        assert headers["idempotency-key"] == "i1"
        assert headers["content-type"] == "application/json"

    asyncio.run(run())


def test_a_connection_the_server_closes_is_replaced() -> None:
    async def run() -> None:
        server, listener, url = await serving()
        conn = Connection(url)
        try:
            assert (await conn.request("GET", "/close")).body == b"ok"
            assert (await conn.request("GET", "/after")).status == 200
        finally:
            await conn.close()
            listener.close()
        assert server.connections == 2

    asyncio.run(run())


def test_a_flood_makes_every_request_once_per_index_and_counts_the_errors() -> None:
    async def run() -> None:
        server, listener, url = await serving()
        try:
            seen: list[int] = []

            async def one(conn: Connection, i: int):  # type: ignore[no-untyped-def]
                seen.append(i)
                return await conn.request("GET", "/missing" if i % 10 == 0 else f"/n{i}")

            result = await flood(url, 50, 4, one, warmup=1)
        finally:
            listener.close()
        assert sorted(i for i in seen if i >= 0) == list(range(50))
        assert sorted(i for i in seen if i < 0) == [-1] * 4  # one warm-up per connection
        assert len(result.latencies) == 50
        assert result.errors == 5
        assert server.connections == 4
        assert result.per_s > 0 and result.client_cpu_us > 0

    asyncio.run(run())
