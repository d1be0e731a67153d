"""Sends one webhook request. Behind a Protocol so the worker can be tested with a fake; the real
adapter is aiohttp with timeouts (it was httpx: 1.5 ms of CPU per POST one at a time and 4-5 ms
with 32 in flight on this machine, against 0.15 ms for aiohttp; the webhook burst was bound by
it, docs/performance.md "Webhooks burst"). Retries are the worker's business (they span minutes to hours
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
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import aiohttp
from opentelemetry.trace import SpanKind, Status, StatusCode
from yarl import URL

from ail_shared import netguard, retry
from ail_shared.telemetry import current_trace_context, tracer

ERROR_EXCERPT = 300
# What is read of an answer before the connection goes back to the pool (and is dropped: see
# the module docstring). A longer answer closes the connection instead of being read whole.
ANSWER_READ_LIMIT = 64 * 1024


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


class _NoAnswer(Exception):
    """No HTTP answer from one address; ``next_address``: the connection itself was refused, so
    the next checked address may be tried."""

    def __init__(self, error: str, *, next_address: bool) -> None:
        super().__init__(error)
        self.error = error
        self.next_address = next_address


class AiohttpWebhookSender:
    """One session (connection pool, keep-alive) for every delivery of the process. The session
    is made on the first send (aiohttp wants a running loop). ``ssl_context``: the trust store
    for https receivers (default: the system's; tests give their own CA)."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        connect_timeout_seconds: float,
        max_connections: int,
        policy: netguard.Policy,
        resolver: netguard.Resolver = netguard.system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds, sock_connect=connect_timeout_seconds)
        self.max_connections = max_connections
        self.ssl_context = ssl_context or ssl.create_default_context()
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.max_connections,
                    ssl=self.ssl_context,
                    # every URL is pinned to a checked address: no name is ever resolved here
                    use_dns_cache=False,
                ),
                timeout=self.timeout,
                headers={"user-agent": "ail-status-webhooks/1"},
                trust_env=False,  # a proxy from the environment would resolve the name itself
                auto_decompress=False,  # the answer is never read for its content
            )
        return self._session

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        try:
            checked = await netguard.check(url, self.policy, self.resolver)
        except netguard.UrlRefused as exc:
            return Outcome(None, f"refused before connecting: {exc.reason}"[:ERROR_EXCERPT])
        for i, address in enumerate(checked.addresses):
            # every address was checked; the next one only if this one refused the connection
            target, pinned_headers, extensions = netguard.pinned_request_args(checked, address)
            try:
                code, retry_after_header = await self._post(
                    target, {**headers, **pinned_headers}, body, extensions.get("sni_hostname")
                )
            except _NoAnswer as exc:
                if exc.next_address and i + 1 < len(checked.addresses):
                    continue
                return Outcome(None, exc.error[:ERROR_EXCERPT])
            if 200 <= code < 300:
                return Outcome(code, None)
            asked = retry.retry_after_seconds(retry_after_header, now=datetime.now(UTC))
            return Outcome(code, f"HTTP {code} {_phrase(code)}", retry_after=asked)
        return Outcome(None, "refused before connecting: no address")  # check() gives at least one

    async def _post(
        self, target: str, headers: dict[str, str], body: bytes, server_hostname: str | None
    ) -> tuple[int, str | None]:
        """(status code, Retry-After) of one POST to one address; ``_NoAnswer`` without an answer.
        A client span of its own, under the delivery's, whose context goes out as ``traceparent``."""
        with tracer("ail.status.webhooks").start_as_current_span(
            "POST",
            kind=SpanKind.CLIENT,
            attributes={"http.request.method": "POST", "url.full": target},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                async with self._client().post(
                    URL(target, encoded=True),
                    data=body,
                    headers={**headers, **current_trace_context()},
                    allow_redirects=False,  # a redirect is not an acknowledgement; the URL is the contract
                    server_hostname=server_hostname,  # TLS: SNI and certificate check of the name
                ) as response:
                    code = response.status
                    span.set_attribute("http.response.status_code", code)
                    read = 0
                    while read < ANSWER_READ_LIMIT:  # read (and drop) so the connection is reused
                        chunk = await response.content.read(ANSWER_READ_LIMIT - read)
                        if not chunk:
                            break
                        read += len(chunk)
                    return code, response.headers.get("Retry-After")
            except aiohttp.ConnectionTimeoutError as exc:
                span.set_status(Status(StatusCode.ERROR, "connect timeout"))
                raise _NoAnswer("timeout: ConnectTimeout", next_address=False) from exc
            except TimeoutError as exc:
                span.set_status(Status(StatusCode.ERROR, "timeout"))
                raise _NoAnswer("timeout: ReadTimeout", next_address=False) from exc
            except aiohttp.ClientConnectorError as exc:
                span.set_status(Status(StatusCode.ERROR, "connect error"))
                raise _NoAnswer(f"ConnectError: {exc}", next_address=True) from exc
            except aiohttp.ClientError as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise _NoAnswer(f"{type(exc).__name__}: {exc}", next_address=False) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
