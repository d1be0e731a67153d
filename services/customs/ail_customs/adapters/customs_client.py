"""The Customs system, behind a Protocol, and its HTTP adapter (the sandbox in development).

Every call has a timeout and bounded retries with exponential backoff; a delivery that gets no
answer after the retries is ``send_failed`` (visible in the customs status), never a hang.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from ail_customs.domain.delivery import DeliveryOutcome
from ail_shared.logging import get_logger

log = get_logger("ail.customs.adapter")


@dataclass(frozen=True)
class FeedPage:
    epoch: str  # changes when Customs' feed starts over (the sandbox restarted)
    messages: list[dict[str, Any]]


class CustomsSystem(Protocol):
    async def deliver(self, license: dict[str, Any]) -> DeliveryOutcome: ...

    async def feed(self, *, after: int, limit: int) -> FeedPage: ...

    async def aclose(self) -> None: ...


class HttpCustomsSystem:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 3.0,
        tries: int = 3,
        backoff: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.tries = max(1, tries)
        self.backoff = backoff
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def deliver(self, license: dict[str, Any]) -> DeliveryOutcome:
        """POST the license; ``stored``/``store_failed`` from Customs' answer, ``send_failed`` when
        no answer came after ``tries`` attempts (time-out, connection error, 5xx)."""
        problem = ""
        for attempt in range(1, self.tries + 1):
            try:
                resp = await self.client.post("/licenses", json=license)
            except httpx.TimeoutException:
                problem = "Customs did not answer in time"
            except httpx.TransportError as exc:
                problem = f"Customs could not be reached: {type(exc).__name__}"
            else:
                if resp.status_code >= 500 or resp.status_code == 429:
                    problem = f"Customs answered HTTP {resp.status_code}"
                elif resp.status_code >= 400:
                    # Customs understood and refused the message: retrying the same bytes won't help.
                    return DeliveryOutcome(
                        "store_failed", f"Customs refused: HTTP {resp.status_code} {resp.text[:200]}", attempt
                    )
                else:
                    body = resp.json()
                    if body.get("result") == "stored":
                        return DeliveryOutcome("stored", "", attempt, str(body.get("receipt_no", "")))
                    return DeliveryOutcome(
                        "store_failed",
                        str(body.get("reason") or "Customs did not store the license"),
                        attempt,
                    )
            log.warning(
                "customs_delivery_retry",
                license_no=license.get("license_no"),
                attempt=attempt,
                problem=problem,
            )
            if attempt < self.tries:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        return DeliveryOutcome("send_failed", f"{problem} (after {self.tries} tries)", self.tries)

    async def feed(self, *, after: int, limit: int) -> FeedPage:
        last: Exception | None = None
        for attempt in range(1, self.tries + 1):
            try:
                resp = await self.client.get("/feed", params={"after": after, "limit": limit})
                resp.raise_for_status()
                body = resp.json()
                return FeedPage(epoch=str(body["epoch"]), messages=list(body["messages"]))
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                last = exc
                if attempt < self.tries:
                    await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        raise RuntimeError(f"Customs clearance feed unavailable after {self.tries} tries: {last!r}")
