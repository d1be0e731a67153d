"""Sends one webhook request. Behind a Protocol so the worker can be tested with a fake; the real
adapter is httpx with timeouts. Retries are the worker's business (they span minutes to hours
and survive restarts), so the adapter makes exactly one attempt; it reads the receiver's
``Retry-After`` (seconds or an HTTP date, by the shared ``ail_shared.retry.retry_after_seconds``)
into ``Outcome.retry_after``, so the worker can wait at least that long.

Before every attempt the URL is checked again by ``ail_shared.netguard`` (the name resolved now,
every address checked) and the request is sent to the checked address itself, with the name in
the Host header and in TLS (SNI and certificate check): a name that resolved to a public address
at subscription time and to an internal one now is refused without connecting, and a DNS
answer that changes between the check and the connection cannot take the request elsewhere.

What the receiver answered is kept as its status code and the standard reason phrase only,
never its body or its own reason text: a URL that reached an internal service by some way round
the rules must not read that service's answers back through the delivery log.
"""

from __future__ import annotations

import http
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import httpx

from ail_shared import netguard, retry

ERROR_EXCERPT = 300


@dataclass(frozen=True)
class Outcome:
    status_code: int | None  # None: no HTTP answer (refused by the guard, connection refused, timeout, ...)
    error: str | None  # why it did not succeed; None on a 2xx
    response_body: str | None = None  # never filled (see the module docstring); kept for the log's shape
    retry_after: float | None = None  # seconds the receiver asked us to wait (Retry-After), if it did

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender(Protocol):
    async def send(self, url: str, headers: dict[str, str], body: bytes) -> Outcome: ...

    async def aclose(self) -> None: ...


def _phrase(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "non-standard status"


class HttpxWebhookSender:
    def __init__(
        self,
        *,
        timeout_seconds: float,
        connect_timeout_seconds: float,
        max_connections: int,
        policy: netguard.Policy,
        resolver: netguard.Resolver = netguard.system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds, connect=connect_timeout_seconds),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,  # a redirect is not an acknowledgement; the URL is the contract
            headers={"user-agent": "ail-status-webhooks/1"},
            transport=transport,
            trust_env=False,  # a proxy from the environment would resolve the name itself
        )

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        try:
            checked = await netguard.check(url, self.policy, self.resolver)
        except netguard.UrlRefused as exc:
            return Outcome(None, f"refused before connecting: {exc.reason}"[:ERROR_EXCERPT])
        response: httpx.Response | None = None
        for i, address in enumerate(checked.addresses):
            # every address was checked; the next one only if this one refused the connection
            target, pinned_headers, extensions = netguard.pinned_request_args(checked, address)
            try:
                response = await self.client.post(
                    target, content=body, headers={**headers, **pinned_headers}, extensions=extensions
                )
                break
            except httpx.ConnectError as exc:
                if i + 1 == len(checked.addresses):
                    return Outcome(None, f"{type(exc).__name__}: {exc}"[:ERROR_EXCERPT])
            except httpx.TimeoutException as exc:
                return Outcome(None, f"timeout: {type(exc).__name__}")
            except httpx.HTTPError as exc:
                return Outcome(None, f"{type(exc).__name__}: {exc}"[:ERROR_EXCERPT])
        assert response is not None
        code = response.status_code
        if 200 <= code < 300:
            return Outcome(code, None)
        asked = retry.retry_after_seconds(response.headers.get("Retry-After"), now=datetime.now(UTC))
        return Outcome(code, f"HTTP {code} {_phrase(code)}", retry_after=asked)

    async def aclose(self) -> None:
        await self.client.aclose()
