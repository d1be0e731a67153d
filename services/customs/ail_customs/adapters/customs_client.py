"""The Customs system, behind a Protocol, and its HTTP adapter (the sandbox in development).

Every call has a timeout and the shared retry policy (``ail_shared.retry``: time-outs, connection
errors, 429 and 5xx retried with backoff, ``Retry-After`` honoured); a delivery that gets no
answer after the retries is ``send_failed`` (visible in the customs status), never a hang. A 4xx
is Customs refusing the message (``store_failed``), never retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from ail_customs.domain.delivery import DeliveryOutcome
from ail_shared import retry


@dataclass(frozen=True)
class FeedPage:
    epoch: str  # changes when Customs' feed starts over (the sandbox restarted)
    messages: list[dict[str, Any]]


class FeedRefused(Exception):
    """Customs refused the feed request (a 4xx other than 429): a retry would be refused again."""


class CustomsSystem(Protocol):
    async def deliver(self, license: dict[str, Any]) -> DeliveryOutcome: ...

    async def feed(self, *, after: int, limit: int) -> FeedPage: ...

    async def cancel(self, cancellation: dict[str, Any]) -> tuple[bool, str]: ...

    async def aclose(self) -> None: ...


def _problem(exc: retry.Unavailable) -> str:
    """The customs detail shown to the user for a delivery that got no answer."""
    if exc.status_code is not None:
        return f"Customs answered HTTP {exc.status_code}"
    if isinstance(exc.__cause__, httpx.TimeoutException):
        return "Customs did not answer in time"
    return f"Customs could not be reached: {type(exc.__cause__).__name__}"


class HttpCustomsSystem:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 3.0,
        tries: int = 3,
        backoff: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.policy = retry.RetryPolicy(attempts=max(1, tries), base=backoff, sleep=sleep)
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def deliver(self, license: dict[str, Any]) -> DeliveryOutcome:
        """POST the license; ``stored``/``store_failed`` from Customs' answer, ``send_failed`` when
        no answer came within the retry policy (time-out, connection error, 429, 5xx)."""
        tries = 0

        async def send() -> httpx.Response:
            nonlocal tries
            tries += 1
            return await self.client.post("/licenses", json=license)

        try:
            resp = await retry.call_http(
                send,
                policy=self.policy,
                what="Customs POST /licenses",
                license_no=license.get("license_no"),
            )
        except retry.Unavailable as exc:
            return DeliveryOutcome(
                "send_failed", f"{_problem(exc)} (after {exc.attempts} tries)", exc.attempts
            )
        if resp.status_code >= 400:
            # Customs understood and refused the message: retrying the same bytes won't help.
            return DeliveryOutcome(
                "store_failed", f"Customs refused: HTTP {resp.status_code} {resp.text[:200]}", tries
            )
        body = resp.json()
        if body.get("result") == "stored":
            return DeliveryOutcome("stored", "", tries, str(body.get("receipt_no", "")))
        return DeliveryOutcome(
            "store_failed", str(body.get("reason") or "Customs did not store the license"), tries
        )

    async def cancel(self, cancellation: dict[str, Any]) -> tuple[bool, str]:
        """POST the cancellation of a license (surrendered or cancelled): (True, "") once Customs
        holds it, else (False, why). Customs answers a repeated cancellation as the first, so a
        round that is re-sent after a crash is counted once there."""
        license_no = str(cancellation["license_no"])
        try:
            resp = await retry.call_http(
                lambda: self.client.post(f"/licenses/{license_no}/cancellation", json=cancellation),
                policy=self.policy,
                what="Customs POST /licenses/{license_no}/cancellation",
                license_no=license_no,
            )
        except retry.Unavailable as exc:
            return False, f"{_problem(exc)} (after {exc.attempts} tries)"
        if resp.status_code >= 400:
            return False, f"Customs refused: HTTP {resp.status_code} {resp.text[:200]}"
        return True, ""

    async def feed(self, *, after: int, limit: int) -> FeedPage:
        """One page of the clearance feed. Raises ``retry.Unavailable`` when Customs stays away,
        ``FeedRefused`` for a refusal; the clearance worker backs off and asks again."""
        resp = await retry.call_http(
            lambda: self.client.get("/feed", params={"after": after, "limit": limit}),
            policy=self.policy,
            what="Customs GET /feed",
        )
        if resp.status_code != 200:
            raise FeedRefused(f"Customs refused the feed request: HTTP {resp.status_code} {resp.text[:200]}")
        body = resp.json()
        return FeedPage(epoch=str(body["epoch"]), messages=list(body["messages"]))
