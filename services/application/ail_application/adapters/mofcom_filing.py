"""MOFCOM's key agricultural products filing (重农信息备案) over HTTP: ``FilingReport`` and its
real adapter. The filing id is the idempotency key, so a report sent twice is filed once; the
call runs on the shared retry policy (``ail_shared.retry``: time-outs, connection errors, 429 and
5xx retried within the call, ``Retry-After`` honoured).

The worker that reports due filings is ``service_layer/workers.py`` (each round is
``handlers.report_due_filings``); what an outcome does to the filing is
``KeyAgriFiling.reported`` / ``report_failed`` (a refusal, 4xx, is not retried: the data must be
corrected).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import httpx

from ail_shared import retry
from ail_shared.logging import get_logger

log = get_logger("ail.application.filing")


@dataclass(frozen=True)
class ReportOutcome:
    receipt_no: str | None
    error: str | None
    retryable: bool  # True: MOFCOM was unavailable (try a later round); False: reported or refused
    retry_after: float | None = None  # seconds MOFCOM asked us to wait (Retry-After), if it did


class FilingReport(Protocol):
    async def report(self, filing_id: UUID, enterprise_code: str, body: dict[str, Any]) -> ReportOutcome:
        """Report one filing; never raises for MOFCOM's answer or its absence."""
        ...

    async def aclose(self) -> None: ...


class MofcomFilingClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 3.0,
        attempts: int = 3,
        backoff: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self.policy = retry.RetryPolicy(attempts=attempts, base=backoff, sleep=sleep)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def report(self, filing_id: UUID, enterprise_code: str, body: dict[str, Any]) -> ReportOutcome:
        try:
            resp = await retry.call_http(
                lambda: self.client.post(
                    "/mofcom/key-agri-filings",
                    json={"enterprise_code": enterprise_code, **body},
                    headers={"Idempotency-Key": str(filing_id)},
                ),
                policy=self.policy,
                what="MOFCOM POST /mofcom/key-agri-filings",
                filing_id=str(filing_id),
            )
        except retry.Unavailable as exc:
            return ReportOutcome(None, f"MOFCOM did not answer: {exc.error}", True, exc.retry_after)
        if resp.status_code in (200, 201):
            return ReportOutcome(str(resp.json()["receipt_no"]), None, False)
        # A refusal (4xx other than 429): the data must be corrected, a retry would repeat it.
        return ReportOutcome(None, f"MOFCOM answered HTTP {resp.status_code}: {resp.text[:300]}", False)
