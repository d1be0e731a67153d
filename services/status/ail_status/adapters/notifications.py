"""PostgreSQL LISTEN/NOTIFY fan-out inside one process: wakes live streams when their
enterprise has a new change and the delivery worker when a delivery is due. Only a latency
aid: every waiter also polls, so a lost notification (or a lost listener connection) delays
but never drops anything."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

from ail_shared.db import connect
from ail_shared.logging import get_logger
from ail_status.adapters.repository import CHANGES_CHANNEL, DELIVERIES_CHANNEL

log = get_logger("ail.status.notifications")


class Notifications:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.deliveries = asyncio.Event()
        self._streams: dict[str, set[asyncio.Event]] = {}
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    def watch(self, enterprise_code: str) -> asyncio.Event:
        ev = asyncio.Event()
        self._streams.setdefault(enterprise_code, set()).add(ev)
        return ev

    def unwatch(self, enterprise_code: str, ev: asyncio.Event) -> None:
        waiters = self._streams.get(enterprise_code)
        if waiters is not None:
            waiters.discard(ev)
            if not waiters:
                del self._streams[enterprise_code]

    def _on_change(self, _c: Any, _pid: int, _channel: str, payload: str) -> None:
        for ev in self._streams.get(payload, ()):
            ev.set()

    def _on_delivery(self, *_: Any) -> None:
        self.deliveries.set()

    async def run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await connect(self.dsn)
                await conn.add_listener(CHANGES_CHANNEL, self._on_change)
                await conn.add_listener(DELIVERIES_CHANNEL, self._on_delivery)
                backoff = 0.5
                while not self._stopping.is_set() and not conn.is_closed():
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), 5.0)
                    if not self._stopping.is_set():
                        await conn.fetchval("SELECT 1")  # notices a dead connection
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep listening after database outages
                log.warning("notifications_lost", error=repr(exc), retry_in=backoff)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
