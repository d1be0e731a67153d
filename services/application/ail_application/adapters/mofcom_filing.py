"""MOFCOM's key agricultural products filing (重农信息备案) over HTTP: ``FilingReport`` and its
real adapter. The filing id is the idempotency key, so a report sent twice is filed once.

The worker that reports due filings is ``service_layer/workers.py``; what an outcome does to the
filing is ``KeyAgriFiling.reported`` / ``report_failed`` (a refusal, 4xx, is not retried: the data
must be corrected).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import httpx

from ail_shared.logging import get_logger

log = get_logger("ail.application.filing")


@dataclass(frozen=True)
class ReportOutcome:
    receipt_no: str | None
    error: str | None
    retryable: bool


class FilingReport(Protocol):
    async def report(self, filing_id: UUID, enterprise_code: str, body: dict[str, Any]) -> ReportOutcome:
        """Report one filing; never raises for MOFCOM's answer or its absence."""
        ...

    async def aclose(self) -> None: ...


class MofcomFilingClient:
    def __init__(
        self, base_url: str, *, timeout: float = 3.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def report(self, filing_id: UUID, enterprise_code: str, body: dict[str, Any]) -> ReportOutcome:
        try:
            resp = await self.client.post(
                "/mofcom/key-agri-filings",
                json={"enterprise_code": enterprise_code, **body},
                headers={"Idempotency-Key": str(filing_id)},
            )
        except httpx.HTTPError as exc:
            return ReportOutcome(None, f"MOFCOM did not answer: {type(exc).__name__}: {exc}", True)
        if resp.status_code in (200, 201):
            return ReportOutcome(str(resp.json()["receipt_no"]), None, False)
        detail = f"MOFCOM answered HTTP {resp.status_code}: {resp.text[:300]}"
        return ReportOutcome(None, detail, resp.status_code >= 500 or resp.status_code == 429)
