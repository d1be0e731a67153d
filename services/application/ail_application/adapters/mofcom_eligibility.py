"""The pre-check's eligibility, answered by MOFCOM (its sandbox in development and tests) over
HTTP: for each commodity code, on the catalogue? electronic licence allowed? iron ore? key
agricultural product?

It implements the ``EligibilityChecker`` Protocol of ``ail_application.adapters.eligibility``
(issue 3). Until that module exists in main, the minimal Protocol below stands in for it; the
method and result shape follow the pre-check's four questions.

Timeouts, bounded retries with exponential backoff; when MOFCOM stays unavailable the caller gets
``EligibilityUnavailable`` (HTTP 503 with what to do next), never a guess.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

import httpx
from ail_shared.errors import AilError
from ail_shared.logging import get_logger

log = get_logger("ail.application.eligibility")


@dataclass(frozen=True)
class Eligibility:
    commodity_code: str
    on_catalogue: bool
    electronic_allowed: bool
    iron_ore: bool
    key_agri: bool
    commodity_name: str = ""


class EligibilityChecker(Protocol):
    async def check(self, commodity_codes: list[str]) -> list[Eligibility]: ...


class EligibilityUnavailable(AilError):
    status_code = 503
    code = "mofcom_unavailable"


class MofcomEligibility:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 3.0,
        attempts: int = 3,
        backoff: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self.attempts = attempts
        self.backoff = backoff

    async def aclose(self) -> None:
        await self.client.aclose()

    async def check(self, commodity_codes: list[str]) -> list[Eligibility]:
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                resp = await self.client.post(
                    "/mofcom/eligibility", json={"commodity_codes": commodity_codes}
                )
                if resp.status_code == 200:
                    return [
                        Eligibility(
                            commodity_code=r["commodity_code"],
                            on_catalogue=bool(r["on_catalogue"]),
                            electronic_allowed=bool(r["electronic_allowed"]),
                            iron_ore=bool(r["iron_ore"]),
                            key_agri=bool(r["key_agri"]),
                            commodity_name=r.get("commodity_name", ""),
                        )
                        for r in resp.json()["results"]
                    ]
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                if resp.status_code < 500:
                    break
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            log.warning("eligibility_retry", attempt=attempt, error=last)
            if attempt < self.attempts:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        raise EligibilityUnavailable(
            f"MOFCOM's eligibility check did not answer ({last}); try the pre-check again in a minute"
        )
