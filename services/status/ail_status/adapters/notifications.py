"""PostgreSQL LISTEN/NOTIFY fan-out inside one process: wakes live streams when their
enterprise has a new change and the delivery worker when a delivery is due. Only a latency
aid: every waiter also polls, so a lost notification (or a lost listener connection) delays
but never drops anything."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from ail_shared.db import connect
from ail_status.adapters.repository import CHANGES_CHANNEL, DELIVERIES_CHANNEL


class Notifications:
    """One LISTEN connection, opened and kept by ``service_layer.workers.listener``."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._streams: dict[str, set[asyncio.Event]] = {}
        self._on_deliveries: list[Callable[[], None]] = []

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

    def on_deliveries(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when deliveries are due (the delivery worker's wake-up)."""
        self._on_deliveries.append(callback)

    def _on_change(self, _c: Any, _pid: int, _channel: str, payload: str) -> None:
        for ev in self._streams.get(payload, ()):
            ev.set()

    def _on_delivery(self, *_: Any) -> None:
        for callback in self._on_deliveries:
            callback()

    async def listen(
        self, *, stopping: Callable[[], bool], pause: Callable[[float], Awaitable[None]]
    ) -> None:
        """Listen on one connection until ``stopping()`` or the connection is lost (raises then;
        the worker reconnects with backoff). ``pause`` waits between liveness checks."""
        conn = await connect(self.dsn)
        try:
            await conn.add_listener(CHANGES_CHANNEL, self._on_change)
            await conn.add_listener(DELIVERIES_CHANNEL, self._on_delivery)
            while not stopping() and not conn.is_closed():
                await pause(5.0)
                if not stopping():
                    await conn.fetchval("SELECT 1")  # notices a dead connection
        finally:
            with contextlib.suppress(Exception):
                await conn.close()
