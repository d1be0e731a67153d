"""MOFCOM's key agricultural products filing (重农信息备案) in the sandbox.

``POST /mofcom/key-agri-filings`` takes a filing with an ``Idempotency-Key`` and answers a receipt
number; the same key always gets the same receipt. Faults (500s, time-outs, slowness) come from
the sandbox's ``/control`` like every other path: add ``/mofcom/key-agri-filings`` to
``faults.paths``. ``GET /control/key-agri-filings`` shows what was received, per key.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse

REQUIRED = (
    "enterprise_code",
    "enterprise_name",
    "customs_registration_no",
    "business_registration_no",
    "registered_capital_wan_yuan",
    "business_address",
    "contact",
    "phone",
)


def install_filing_routes(app: FastAPI) -> None:
    receipts: dict[str, dict[str, Any]] = {}
    received: dict[str, int] = defaultdict(int)

    @app.post("/mofcom/key-agri-filings", status_code=201)
    async def file_key_agri(
        body: dict[str, Any],
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> Any:
        if not idempotency_key:
            return _error(400, "idempotency_key_required", "send the Idempotency-Key header")
        received[idempotency_key] += 1
        if idempotency_key in receipts:
            return receipts[idempotency_key]
        missing = [f for f in REQUIRED if body.get(f) in (None, "")]
        if missing:
            return _error(422, "filing_incomplete", f"missing: {', '.join(missing)}")
        now = datetime.now(UTC)
        receipts[idempotency_key] = {
            "receipt_no": f"ZN{now:%y}{body['enterprise_code']}{len(receipts) + 1:06d}",
            "received_at": now.isoformat(),
            "enterprise_code": body["enterprise_code"],
        }
        return receipts[idempotency_key]

    @app.get("/control/key-agri-filings")
    async def filings_received(key: str | None = None) -> dict[str, Any]:
        keys = [key] if key else list(received)
        return {k: {"received": received.get(k, 0), "receipt": receipts.get(k)} for k in keys}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": []}}, status_code=status)
