"""The pre-check's eligibility answered by MOFCOM (its sandbox in development and tests) over
HTTP: for each commodity code, on the catalogue? electronic licence allowed? iron ore? key
agricultural product? It implements ``EligibilityChecker`` (``adapters/eligibility.py``).

MOFCOM's answer decides; what MOFCOM does not say (overflow tolerance, issuing agency) comes from
our catalogue data. Timeouts and bounded retries with exponential backoff; when MOFCOM stays
unavailable the pre-check answers 503 with what to do next, never a guess.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from ail_application.adapters.eligibility import Eligibility
from ail_application.domain.reference import ReferenceData
from ail_shared.errors import AilError
from ail_shared.logging import get_logger

log = get_logger("ail.application.eligibility")


class EligibilityUnavailable(AilError):
    status_code = 503
    code = "mofcom_unavailable"


class MofcomEligibility:
    def __init__(
        self,
        base_url: str,
        ref: ReferenceData,
        *,
        timeout: float = 3.0,
        attempts: int = 3,
        backoff: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self.ref = ref
        self.attempts = attempts
        self.backoff = backoff

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _ask(self, enterprise_code: str, year: int, codes: list[str]) -> list[dict[str, Any]]:
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                resp = await self.client.post(
                    "/mofcom/eligibility",
                    json={"enterprise_code": enterprise_code, "year": year, "commodity_codes": codes},
                )
                if resp.status_code == 200:
                    results: list[dict[str, Any]] = resp.json()["results"]
                    return results
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

    async def check(
        self, *, enterprise_code: str, year: int, commodity_codes: list[str]
    ) -> list[Eligibility]:
        answers = {r["commodity_code"]: r for r in await self._ask(enterprise_code, year, commodity_codes)}
        out = []
        for code in commodity_codes:
            r = answers.get(code, {})
            entry = self.ref.commodity(code, year)
            on_catalogue = bool(r.get("on_catalogue"))
            electronic = bool(r.get("electronic_allowed"))
            reason = ""
            if not on_catalogue:
                reason = f"MOFCOM: {code} is not on the automatic-import catalogue for {year}"
            elif not electronic:
                reason = "MOFCOM: paper license only for this commodity"
            out.append(
                Eligibility(
                    commodity_code=code,
                    commodity_name=r.get("commodity_name") or (entry.name_zh if entry else None),
                    on_catalogue=on_catalogue,
                    electronic_allowed=electronic,
                    iron_ore=bool(r.get("iron_ore")),
                    key_agri=bool(r.get("key_agri")),
                    tolerance_pct=entry.tolerance_pct if entry else None,
                    issuing_agency=entry.issuing_agency if entry else None,
                    reason=reason,
                    source="mofcom",
                )
            )
        return out
