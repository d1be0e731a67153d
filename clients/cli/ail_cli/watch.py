"""``ail watch``: counts per status of a selection, live, from the server-sent events stream
(``GET /api/v1/events/stream``, one stream per enterprise), until every application is in a
final state or the timeout.

Order of start-up matters: the stream is opened first (it starts with the next change), then the
current statuses are read, so no change falls between the two. A change seen twice sets the same
status again. When the stream is quiet for ``reconcile`` seconds the statuses of the applications
not yet final are read again, which also covers a change recorded before the stream opened but
read after; a dropped stream reconnects with ``Last-Event-ID``, so nothing is missed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from ail_cli.api import Api, ApiError, error_of
from ail_cli.selection import Target

FINAL = ("license_issued", "first_review_rejected", "second_review_rejected", "revoked")
ORDER = (
    "draft",
    "submitting",
    "pending_first_review",
    "pending_second_review",
    "approved",
    "license_issued",
    "first_review_rejected",
    "second_review_rejected",
    "revoked",
)


class Board:
    def __init__(self, targets: list[Target], final: tuple[str, ...]) -> None:
        self.status: dict[str, str | None] = {t.id: t.status for t in targets}
        self.final = final
        self.events = 0
        self.enterprise: dict[str, str] = {t.id: t.enterprise_code for t in targets if t.enterprise_code}

    def set(self, app_id: str, status: str | None) -> None:
        if app_id in self.status and status:
            self.status[app_id] = status

    def counts(self) -> dict[str, int]:
        c = Counter(s or "unknown" for s in self.status.values())
        return {s: c[s] for s in sorted(c, key=lambda s: ORDER.index(s) if s in ORDER else 99)}

    def done(self) -> int:
        return sum(1 for s in self.status.values() if s in self.final)

    def pending(self) -> list[str]:
        return [i for i, s in self.status.items() if s not in self.final]


async def _current(api: Api, board: Board, ids: list[str], concurrency: int = 8) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(app_id: str) -> None:
        async with sem:
            try:
                app = await api.json("GET", f"/api/v1/applications/{app_id}")
            except ApiError as exc:
                if exc.status == 404:
                    board.set(app_id, "not_found")
                    return
                raise
            board.set(app_id, app["status"])
            board.enterprise[app_id] = app["enterprise_code"]

    await asyncio.gather(*(one(i) for i in ids))


async def _stream(
    api: Api, enterprise: str | None, board: Board, opened: asyncio.Event, wake: asyncio.Event
) -> None:
    last: str | None = None
    while True:
        headers = {"Accept": "text/event-stream"}
        if last is not None:
            headers["Last-Event-ID"] = last
        try:
            async with api.client.stream(
                "GET",
                "/api/v1/events/stream",
                params={"heartbeat_seconds": 5},
                headers={**headers, **({"X-Enterprise-Code": enterprise} if enterprise else {})},
                timeout=None,
            ) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise error_of(resp, api.profile)
                opened.set()
                event_id, data = None, []
                async for line in resp.aiter_lines():
                    if line.startswith("id:"):
                        event_id = line[3:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif line == "":
                        if data:
                            payload: dict[str, Any] = json.loads("\n".join(data))
                            board.events += 1
                            board.set(
                                str(payload.get("application_id")),
                                payload.get("current_status") or payload.get("status"),
                            )
                            wake.set()
                        if event_id is not None:
                            last = event_id
                        event_id, data = None, []
        except ApiError:
            raise
        except (httpx.HTTPError, ValueError):  # noqa: BLE001 - a dropped stream is reopened after the last id seen
            await asyncio.sleep(1.0)


async def watch(
    api: Api,
    targets: list[Target],
    *,
    final: tuple[str, ...] = FINAL,
    timeout: float,
    reconcile: float = 10.0,
    on_change: Callable[[Board], None],
) -> tuple[Board, bool]:
    board = Board(targets, final)
    # Each application's enterprise (its stream) is known from a first read; the streams open,
    # then the statuses are read again, so no change falls between reading and streaming.
    await _current(api, board, [t.id for t in targets if t.id not in board.enterprise])
    enterprises: list[str | None] = [*sorted(set(board.enterprise.values()))] or [api.profile.enterprise]
    wake = asyncio.Event()
    streams = []
    opened = []
    for e in enterprises:
        ev = asyncio.Event()
        opened.append(ev)
        streams.append(asyncio.create_task(_stream(api, e, board, ev, wake)))
    deadline = time.monotonic() + timeout
    try:
        started = time.monotonic()
        while not all(ev.is_set() for ev in opened) and time.monotonic() - started < 30:
            for task in streams:
                if task.done():
                    task.result()  # raises the stream's error (e.g. 403 for an enterprise)
            await asyncio.sleep(0.05)
        await _current(api, board, list(board.status))
        on_change(board)
        quiet_since = time.monotonic()
        while board.pending() and time.monotonic() < deadline:
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=min(1.0, max(0.0, deadline - time.monotonic())))
            for task in streams:
                if task.done():
                    task.result()
            if wake.is_set():
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= reconcile:
                await _current(api, board, board.pending())
                quiet_since = time.monotonic()
            on_change(board)
        return board, not board.pending()
    finally:
        for s in streams:
            s.cancel()
        for s in streams:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await s
