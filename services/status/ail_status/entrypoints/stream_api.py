"""Live stream of an enterprise's changes as Server-Sent Events.

Each event's ``id`` is the enterprise's change sequence number. Numbers are given out in commit
order within an enterprise (see migrations/0002), so a client that reconnects with
``Last-Event-ID: N`` receives every change after N, none missed and none repeated. Without
``Last-Event-ID`` the stream starts with the next change; ``Last-Event-ID: 0`` replays from the
first. Comment lines (``: heartbeat``) keep idle connections open through proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from ail_shared.errors import AilError, FieldProblem, InvalidInput
from ail_shared.http import CurrentTenant, Pool, get_caller
from ail_shared.inputs import BIGINT_MAX
from ail_status.adapters import queries
from ail_status.domain.model import webhook_type
from ail_status.entrypoints.deps import StatusDeps

router = APIRouter(prefix="/api/v1/events", tags=["live stream"])
BATCH = 500
RECONNECT_MS = 2000


def _cursor(header: str | None, query: int | None) -> int | None:
    """The position to stream after. Checked before the stream opens: once the 200 and the first
    bytes are sent, a refusal can no longer be an error answer (a sequence number past bigint
    used to open the stream and then kill it)."""
    if header is None or not header.strip():
        return query
    raw = header.strip()
    # At most 19 digits (bigint); int() of a very long digit string is refused before parsing.
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 19 else -1
    if not 0 <= value <= BIGINT_MAX:
        raise InvalidInput(
            "Last-Event-ID invalid",
            [FieldProblem("Last-Event-ID", "must be the id of an event received from this stream")],
        )
    return value


def frame(seq: int, event_type: str, payload: dict[str, Any]) -> str:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"id: {seq}\nevent: {webhook_type(event_type)}\ndata: {data}\n\n"


@router.get(
    "/stream",
    response_class=StreamingResponse,
    summary="Stream status changes (server-sent events)",
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "`id: <seq>`, `event: <type>`, `data: <change as JSON>`, one event per change",
        }
    },
)
async def stream(
    request: Request,
    pool: Pool,
    tenant: CurrentTenant,
    deps: StatusDeps,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[
        int | None, Query(ge=0, le=BIGINT_MAX, description="as Last-Event-ID, for clients that cannot set it")
    ] = None,
    heartbeat_seconds: Annotated[
        float | None, Query(ge=1, le=300, description="seconds of silence before a heartbeat comment")
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events: one event per change of the caller's enterprise (an agency names the
    enterprise with X-Enterprise-Code). ``event`` is the change type (as the webhook ``type``),
    ``data`` the change as JSON (as the webhook ``data``)."""
    enterprise = tenant.enterprise_code
    settings = deps.settings
    notifications = deps.notifications
    heartbeat = heartbeat_seconds or settings.sse_heartbeat_seconds
    cursor = _cursor(last_event_id, after)
    if cursor is None:
        async with pool.acquire() as conn:
            cursor = await queries.last_seq(conn, enterprise_code=enterprise)

    async def still_allowed() -> bool:
        """A revoked key or agency authorisation ends an open stream too, within a poll."""
        h = request.headers
        try:
            await (
                await get_caller(
                    request, h.get("authorization"), h.get("x-api-key"), h.get("x-enterprise-code")
                )
            ).tenant()
        except AilError:
            return False
        return True

    async def events(last: int) -> AsyncIterator[str]:
        wake = notifications.watch(enterprise)
        try:
            yield f"retry: {RECONNECT_MS}\n: stream of enterprise {enterprise} after {last}\n\n"
            last_write = time.monotonic()
            while True:
                wake.clear()
                if not await still_allowed():
                    yield ": credentials revoked; reconnect with a valid key\n\n"
                    return
                async with pool.acquire() as conn:
                    rows = await queries.changes_after(
                        conn, enterprise_code=enterprise, seq=last, limit=BATCH
                    )
                if rows:
                    yield "".join(frame(r["seq"], r["event_type"], r["payload"]) for r in rows)
                    last = rows[-1]["seq"]
                    last_write = time.monotonic()
                    if len(rows) == BATCH:
                        continue
                if await request.is_disconnected():
                    return
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), min(settings.sse_poll_seconds, heartbeat))
                if time.monotonic() - last_write >= heartbeat:
                    yield ": heartbeat\n\n"
                    last_write = time.monotonic()
        finally:
            notifications.unwatch(enterprise, wake)

    return StreamingResponse(
        events(cursor),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
