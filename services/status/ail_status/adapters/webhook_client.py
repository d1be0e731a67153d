"""Sends one webhook request. Behind a Protocol so the worker can be tested with a fake; the real
adapter is httpx with timeouts. Retries are the worker's business (they span minutes to hours
and survive restarts), so the adapter makes exactly one attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

RESPONSE_EXCERPT = 500


@dataclass(frozen=True)
class Outcome:
    status_code: int | None  # None: no HTTP answer (connection refused, timeout, ...)
    error: str | None  # why it did not succeed; None on a 2xx
    response_body: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender(Protocol):
    async def send(self, url: str, headers: dict[str, str], body: bytes) -> Outcome: ...

    async def aclose(self) -> None: ...


class HttpxWebhookSender:
    def __init__(
        self,
        *,
        timeout_seconds: float,
        connect_timeout_seconds: float,
        max_connections: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds, connect=connect_timeout_seconds),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,  # a redirect is not an acknowledgement; the URL is the contract
            headers={"user-agent": "ail-status-webhooks/1"},
            transport=transport,
        )

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        try:
            response = await self.client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return Outcome(None, f"timeout: {type(exc).__name__}", None)
        except httpx.HTTPError as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}"[:RESPONSE_EXCERPT], None)
        text = response.text[:RESPONSE_EXCERPT]
        if 200 <= response.status_code < 300:
            return Outcome(response.status_code, None, text)
        return Outcome(response.status_code, f"HTTP {response.status_code}", text)

    async def aclose(self) -> None:
        await self.client.aclose()
