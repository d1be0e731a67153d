"""The pre-check's eligibility answered by MOFCOM (its sandbox in development and tests) over
HTTP: for each commodity code, on the catalogue? electronic licence allowed? iron ore? key
agricultural product? It implements ``EligibilityChecker`` (``adapters/eligibility.py``).

MOFCOM's answer decides; what MOFCOM does not say (overflow tolerance, issuing agency) comes from
our catalogue data. Timeouts and the shared retry policy (``ail_shared.retry``: time-outs,
connection errors, 429 and 5xx retried, ``Retry-After`` honoured); when MOFCOM stays unavailable
the pre-check answers 503 (``EligibilityUnavailable``) with what to do next, never a guess. When
MOFCOM refuses the question (another 4xx), it answers 502 (``EligibilityRefused``): a retry would
get the same refusal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ail_application.adapters.eligibility import Eligibility
from ail_application.domain.reference import ReferenceData
from ail_shared import retry
from ail_shared.errors import AilError


class EligibilityUnavailable(AilError):
    status_code = 503
    code = "mofcom_unavailable"


class EligibilityRefused(AilError):
    status_code = 502
    code = "mofcom_refused"


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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self.ref = ref
        self.policy = retry.RetryPolicy(attempts=attempts, base=backoff, sleep=sleep)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _ask(self, enterprise_code: str, year: int, codes: list[str]) -> list[dict[str, Any]]:
        try:
            resp = await retry.call_http(
                lambda: self.client.post(
                    "/mofcom/eligibility",
                    json={"enterprise_code": enterprise_code, "year": year, "commodity_codes": codes},
                ),
                policy=self.policy,
                what="MOFCOM POST /mofcom/eligibility",
            )
        except retry.Unavailable as exc:
            raise EligibilityUnavailable(
                f"MOFCOM's eligibility check did not answer ({exc.error});"
                " try the pre-check again in a minute"
            ) from exc
        if resp.status_code != 200:
            raise EligibilityRefused(
                f"MOFCOM refused the eligibility check (HTTP {resp.status_code}: {resp.text[:200]})"
            )
        results: list[dict[str, Any]] = resp.json()["results"]
        return results

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
