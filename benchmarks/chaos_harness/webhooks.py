"""A webhook receiver on 127.0.0.1, subscribed through the public API (one subscription per
enterprise, following all its applications). It verifies each delivery's Standard Webhooks
signature and counts deliveries per webhook id (= event id, the same on every attempt), so
duplicates are counted and dropped, as a receiver should."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.chaos_harness.stack import Stack, call


@dataclass
class Receiver:
    secrets: dict[str, str] = field(default_factory=dict)  # path -> whsec_ secret
    receipts: Counter[str] = field(default_factory=Counter)  # webhook id -> deliveries received
    application_of: dict[str, str] = field(default_factory=dict)  # webhook id -> application id
    type_of: dict[str, str] = field(default_factory=dict)
    bad_signatures: int = 0
    malformed: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _connections: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):  # keep-alive connections of the status service
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()

    @property
    def total(self) -> int:
        return sum(self.receipts.values())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    break
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    k, _, v = line.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length") or 0))
                path = request_line.decode("latin-1").split(" ")[1] if b" " in request_line else ""
                self._record(path, headers, body)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        msg_id = headers.get("webhook-id", "")
        secret = self.secrets.get(path)
        if not msg_id or secret is None:
            self.malformed += 1
            return
        if not verify(
            secret, msg_id, headers.get("webhook-timestamp", ""), body, headers.get("webhook-signature", "")
        ):
            self.bad_signatures += 1
            return
        try:
            payload = json.loads(body)
            self.application_of[msg_id] = str(payload["data"]["application_id"])
            self.type_of[msg_id] = str(payload.get("type", ""))
        except (ValueError, KeyError, TypeError):
            self.malformed += 1
            return
        self.receipts[msg_id] += 1

    async def subscribe(self, stack: Stack, run_tag: str) -> list[tuple[str, str]]:
        """One subscription per enterprise (all its applications); returns (enterprise, id)."""
        subs = []
        for enterprise in stack.enterprises:
            path = f"/hooks/{enterprise}"
            body = {
                "url": f"http://127.0.0.1:{self.port}{path}",
                "all_applications": True,
                "description": f"chaos harness {run_tag}",
                "retry_period_seconds": 3600,
            }
            async with stack.agency(enterprise) as client:
                r = await call(
                    client,
                    "POST",
                    "/api/v1/subscriptions",
                    json=body,
                    headers={"Idempotency-Key": f"chaos-{run_tag}-sub-{enterprise}"},
                )
            if r.status_code != 201:
                raise SubscriptionRefused(
                    f"the status service refused the receiver's subscription ({body['url']}): HTTP"
                    f" {r.status_code} {r.text[:400]}. A loopback receiver needs loopback webhook"
                    " targets allowed in development (see docs/status.md), or run with --no-webhooks."
                )
            sub = r.json()
            self.secrets[path] = sub["secret"]
            subs.append((enterprise, sub["id"]))
        return subs


class SubscriptionRefused(RuntimeError):
    pass


async def unsubscribe(stack: Stack, subs: list[tuple[str, str]]) -> None:
    """Delete the run's subscriptions, so nothing keeps retrying to a receiver that is gone."""
    for enterprise, sub_id in subs:
        async with stack.agency(enterprise) as client:
            await call(client, "DELETE", f"/api/v1/subscriptions/{sub_id}", deadline=60)


async def pending(stack: Stack, subs: list[tuple[str, str]]) -> int | None:
    """Deliveries the status service still has to make (or finish) to the receiver; None when
    it cannot say (down)."""
    total = 0
    for enterprise, sub_id in subs:
        async with stack.agency(enterprise) as client:
            try:
                # page_size 1: only the page's total is wanted (every list has one).
                r = await client.get(
                    f"/api/v1/subscriptions/{sub_id}/deliveries", params={"state": "pending", "page_size": 1}
                )
            except httpx.HTTPError:
                return None
        if r.status_code != 200:
            return None
        total += int(r.json()["total"])
    return total


def verify(secret: str, msg_id: str, timestamp: str, body: bytes, signatures: str) -> bool:
    """Standard Webhooks: HMAC-SHA256 over ``{id}.{timestamp}.{body}`` with the secret's key."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    return any(
        hmac.compare_digest(sig.partition(",")[2], expected)
        for sig in signatures.split()
        if sig.startswith("v1,")
    )


def summary(receiver: Receiver) -> dict[str, Any]:
    return {
        "distinct": len(receiver.receipts),
        "total": receiver.total,
        "duplicates": receiver.total - len(receiver.receipts),
        "bad_signatures": receiver.bad_signatures,
        "malformed": receiver.malformed,
    }
