"""China Customs sandbox: a stand-in for the Customs system, as a process of its own.

Run: ``python -m ail_sandbox.customs`` (port ``AIL_HTTP_PORT``). Everything is in memory; a
restart starts a new feed ``epoch`` so readers know to read the feed again from the start.

What Customs does (the customs service talks to these):

* ``POST /licenses``: receives a license; answers ``{"result": "stored", "receipt_no"}``,
  ``{"result": "failed", "reason"}``, HTTP 503 (``unavailable``) or nothing at all (``timeout``,
  it holds the request for a minute), as configured.
* ``POST /licenses/{license_no}/cancellation``: the license may no longer be used (surrendered,
  replaced, cancelled by MOFCOM). Kept once; a repeated cancellation is answered as the first.
  From then on a declaration against it is refused (HTTP 409 ``license_cancelled``, nothing on the
  feed) and the license itself is not stored again (``failed``).
* ``GET /feed?after=<position>&limit=<n>``: the clearance feed, in order: ``declared`` (a customs
  declaration used a license: declaration no., date, port, goods lines, quantity), ``amended``
  (optionally with new goods lines) and ``invalidated`` messages. Each message has a
  ``message_id`` (stable across re-deliveries) and a ``position`` (its place in this feed).

How tests drive it (``/control``):

* ``PUT /control/default`` ``{"mode"}``: the answer for licenses without their own setting.
* ``PUT /control/licenses/{license_no}`` ``{"mode", "script": [...]}``: this license's answer;
  ``script`` answers the next requests in order before ``mode`` applies. Modes: ``stored``,
  ``failed``, ``timeout``, ``unavailable``, ``hold`` (wait until released).
* ``POST /control/licenses/{license_no}/release`` ``{"outcome": "stored"|"failed"}``: answer held requests.
* ``GET /control/licenses/{license_no}``: requests received, answers given, whether one is held,
  how often it was stored, its cancellation and how many cancellation requests came.
* ``GET /control/journal``: what Customs took in, in order (``stored`` / ``cancelled``, license no.).
* ``POST /control/declarations``: a declaration using a license, with given goods lines/quantity.
* ``POST /control/declarations/{no}/amend`` / ``.../invalidate``: amend or invalidate it.
* ``POST /control/declarations/bulk`` ``{"items": [...]}``: many declarations at once (benchmarks).
* ``POST /control/feed/redeliver`` ``{"message_id"}``: put a message on the feed a second time.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ail_shared import metrics

Mode = Literal["stored", "failed", "timeout", "unavailable", "hold"]
TIMEOUT_HOLD_SECONDS = float(os.environ.get("AIL_SANDBOX_TIMEOUT_HOLD_SECONDS", "60"))


@dataclass
class CustomsState:
    epoch: str = field(default_factory=lambda: uuid.uuid4().hex)
    default_mode: Mode = "stored"
    modes: dict[str, Mode] = field(default_factory=dict)
    scripts: dict[str, deque[Mode]] = field(default_factory=dict)
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    held: dict[str, list[asyncio.Future[dict[str, Any]]]] = field(default_factory=dict)
    feed: list[dict[str, Any]] = field(default_factory=list)
    declarations: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancellations: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancellation_requests: dict[str, int] = field(default_factory=dict)
    store_count: dict[str, int] = field(default_factory=dict)
    journal: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0
    started: int = field(default_factory=lambda: int(time.time() * 10))

    def next_mode(self, license_no: str) -> Mode:
        script = self.scripts.get(license_no)
        if script:
            return script.popleft()
        return self.modes.get(license_no, self.default_mode)

    def append(self, message: dict[str, Any]) -> dict[str, Any]:
        msg = {**message, "position": len(self.feed) + 1}
        self.feed.append(msg)
        return msg

    def declaration_no(self) -> str:
        """Customs code + year + this process's start (so numbers stay unique across restarts) + seq."""
        self.seq += 1
        return f"2200{datetime.now(UTC):%Y}{self.started % 10**8:08d}{self.seq:07d}"


class ModeIn(BaseModel):
    mode: Mode | None = None
    script: list[Mode] = Field(default_factory=list)


class ReleaseIn(BaseModel):
    outcome: Literal["stored", "failed"] = "stored"
    reason: str = ""


class LineIn(BaseModel):
    commodity_code: str = ""
    quantity: Decimal = Field(gt=0)
    unit: str = ""


class DeclarationIn(BaseModel):
    license_no: str
    declaration_no: str | None = None
    declared_at: datetime | None = None
    port: str = "2200"
    lines: list[LineIn] = Field(min_length=1)


class AmendIn(BaseModel):
    lines: list[LineIn] = Field(default_factory=list)  # empty: the quantity is only given back
    at: datetime | None = None


class InvalidateIn(BaseModel):
    at: datetime | None = None


class BulkIn(BaseModel):
    items: list[DeclarationIn] = Field(max_length=100_000)


class RedeliverIn(BaseModel):
    message_id: str


def _lines(lines: list[LineIn], default_code: str, default_unit: str) -> list[dict[str, Any]]:
    return [
        {
            "line_no": i + 1,
            "commodity_code": line.commodity_code or default_code,
            "quantity": str(line.quantity),
            "unit": line.unit or default_unit,
        }
        for i, line in enumerate(lines)
    ]


def create_app(state: CustomsState | None = None) -> FastAPI:
    st = state or CustomsState()
    app = FastAPI(title="Customs sandbox", description=__doc__)
    metrics.instrument(app)  # /metrics, like every service (ail_shared.metrics)
    app.state.customs = st

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "service": "sandbox-customs", "epoch": st.epoch, "feed": len(st.feed)}

    # ---------------------------------------------------------------- Customs' own interface

    @app.post("/licenses")
    async def receive_license(body: dict[str, Any]) -> Any:
        license_no = str(body.get("license_no") or "")
        if not license_no:
            raise HTTPException(400, "license_no is required")
        if license_no in st.cancellations:
            st.received.setdefault(license_no, []).append(
                {"at": datetime.now(UTC).isoformat(), "mode": "failed"}
            )
            return {"result": "failed", "reason": f"license {license_no} is cancelled at Customs"}
        mode = st.next_mode(license_no)
        record: dict[str, Any] = {"at": datetime.now(UTC).isoformat(), "mode": mode}
        st.received.setdefault(license_no, []).append(record)
        if mode == "hold":
            fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            st.held.setdefault(license_no, []).append(fut)
            try:
                answer = await asyncio.wait_for(fut, 120)
            except TimeoutError:
                return JSONResponse({"error": "held too long"}, status_code=503)
            finally:
                if fut in st.held.get(license_no, []):
                    st.held[license_no].remove(fut)
            mode = answer["outcome"]
            record["released_as"] = mode
            if mode == "failed":
                return {"result": "failed", "reason": answer.get("reason") or "storage refused (sandbox)"}
        if mode == "timeout":
            await asyncio.sleep(TIMEOUT_HOLD_SECONDS)
            return JSONResponse({"error": "too late"}, status_code=504)
        if mode == "unavailable":
            return JSONResponse({"error": "Customs is unavailable (sandbox)"}, status_code=503)
        if mode == "failed":
            return {"result": "failed", "reason": "storage refused: license data rejected (sandbox)"}
        if license_no not in st.stored:
            st.journal.append(
                {"kind": "stored", "license_no": license_no, "at": datetime.now(UTC).isoformat()}
            )
        st.stored[license_no] = body
        st.store_count[license_no] = st.store_count.get(license_no, 0) + 1
        return {"result": "stored", "receipt_no": f"RC{uuid.uuid4().hex[:12].upper()}"}

    @app.post("/licenses/{license_no}/cancellation")
    async def cancel_license(license_no: str, body: dict[str, Any]) -> Any:
        st.cancellation_requests[license_no] = st.cancellation_requests.get(license_no, 0) + 1
        first = st.cancellations.get(license_no)
        if first is None:
            first = {**body, "license_no": license_no, "received_at": datetime.now(UTC).isoformat()}
            st.cancellations[license_no] = first
            st.journal.append({"kind": "cancelled", "license_no": license_no, "at": first["received_at"]})
        return {"result": "cancelled", "license_no": license_no, "received_at": first["received_at"]}

    @app.get("/feed")
    async def feed(after: int = Query(0, ge=0), limit: int = Query(500, ge=1, le=5000)) -> dict[str, Any]:
        return {"epoch": st.epoch, "messages": st.feed[after : after + limit], "last_position": len(st.feed)}

    # ---------------------------------------------------------------- control (tests)

    @app.put("/control/default")
    async def set_default(body: ModeIn) -> dict[str, Any]:
        if body.mode is None:
            raise HTTPException(422, "mode is required")
        st.default_mode = body.mode
        return {"default_mode": st.default_mode}

    @app.put("/control/licenses/{license_no}")
    async def set_license_mode(license_no: str, body: ModeIn) -> dict[str, Any]:
        if body.mode is not None:
            st.modes[license_no] = body.mode
        st.scripts[license_no] = deque(body.script)
        return {"license_no": license_no, "mode": st.modes.get(license_no), "script": list(body.script)}

    @app.get("/control/licenses/{license_no}")
    async def license_state(license_no: str) -> dict[str, Any]:
        return {
            "license_no": license_no,
            "received": st.received.get(license_no, []),
            "held": len(st.held.get(license_no, [])),
            "stored": license_no in st.stored,
            "store_count": st.store_count.get(license_no, 0),
            "cancellation": st.cancellations.get(license_no),
            "cancellation_requests": st.cancellation_requests.get(license_no, 0),
        }

    @app.get("/control/journal")
    async def journal() -> dict[str, Any]:
        return {"items": st.journal}

    @app.post("/control/licenses/{license_no}/release")
    async def release(license_no: str, body: ReleaseIn) -> dict[str, Any]:
        futures = st.held.get(license_no, [])
        for fut in futures:
            if not fut.done():
                fut.set_result(body.model_dump())
        return {"released": len(futures)}

    def declare(body: DeclarationIn) -> dict[str, Any]:
        if body.license_no in st.cancellations:
            # Customs refuses the declaration at the border: it never reaches the feed.
            raise HTTPException(409, {"error": "license_cancelled", "license_no": body.license_no})
        lic = st.stored.get(body.license_no, {})
        no = body.declaration_no or st.declaration_no()
        if no in st.declarations:
            raise HTTPException(409, f"declaration {no} exists")
        lines = _lines(body.lines, lic.get("commodity_code", ""), lic.get("unit", ""))
        declared_at = (body.declared_at or datetime.now(UTC)).isoformat()
        msg = st.append(
            {
                "message_id": uuid.uuid4().hex,
                "kind": "declared",
                "declaration_no": no,
                "license_no": body.license_no,
                "declared_at": declared_at,
                "occurred_at": declared_at,
                "port": body.port,
                "lines": lines,
                "quantity": str(sum((line.quantity for line in body.lines), Decimal(0))),
            }
        )
        st.declarations[no] = msg
        return msg

    @app.post("/control/declarations", status_code=201)
    async def new_declaration(body: DeclarationIn) -> dict[str, Any]:
        return declare(body)

    @app.post("/control/declarations/bulk", status_code=201)
    async def bulk(body: BulkIn) -> dict[str, Any]:
        first = len(st.feed) + 1
        for item in body.items:
            declare(item)
        return {"appended": len(body.items), "first_position": first, "last_position": len(st.feed)}

    def change(no: str, kind: str, at: datetime | None, lines: list[LineIn]) -> dict[str, Any]:
        original = st.declarations.get(no)
        if original is None:
            raise HTTPException(404, f"no declaration {no}")
        when = (at or datetime.now(UTC)).isoformat()
        msg: dict[str, Any] = {
            "message_id": uuid.uuid4().hex,
            "kind": kind,
            "declaration_no": no,
            "license_no": original["license_no"],
            "occurred_at": when,
            "declared_at": original["declared_at"],
            "port": original["port"],
        }
        if lines:
            code = original["lines"][0]["commodity_code"] if original["lines"] else ""
            unit = original["lines"][0]["unit"] if original["lines"] else ""
            msg["lines"] = _lines(lines, code, unit)
            msg["quantity"] = str(sum((line.quantity for line in lines), Decimal(0)))
        return st.append(msg)

    @app.post("/control/declarations/{declaration_no}/amend", status_code=201)
    async def amend(declaration_no: str, body: AmendIn) -> dict[str, Any]:
        return change(declaration_no, "amended", body.at, body.lines)

    @app.post("/control/declarations/{declaration_no}/invalidate", status_code=201)
    async def invalidate(declaration_no: str, body: InvalidateIn) -> dict[str, Any]:
        return change(declaration_no, "invalidated", body.at, [])

    @app.post("/control/feed/redeliver", status_code=201)
    async def redeliver(body: RedeliverIn) -> dict[str, Any]:
        for msg in st.feed:
            if msg["message_id"] == body.message_id:
                return st.append({k: v for k, v in msg.items() if k != "position"})
        raise HTTPException(404, f"no message {body.message_id}")

    return app


def main() -> None:
    port = int(os.environ.get("AIL_HTTP_PORT", "18202"))
    uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main()
