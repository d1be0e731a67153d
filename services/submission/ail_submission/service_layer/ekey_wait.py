"""The loop that keeps waiting submissions moving (issue 10, item 3).

Heartbeats decide most waits at once (``handlers.on_heartbeat``); this loop catches the rest:
a submission that began waiting while the heartbeat that frees it was being applied (two
transactions, neither saw the other), one whose grace period ran out while no heartbeat came
(the signer is gone, or Kafka is), and a signature request sent to a host that stopped
announcing the key: sent again to another host that announces it now, or failed once the key is
gone by the same rule as a wait.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import asyncpg

from ail_shared.logging import get_logger
from ail_submission.service_layer import handlers

log = get_logger("ail.submission.ekey_wait")


class EkeyWaiter:
    def __init__(
        self, pool: asyncpg.Pool, *, grace: timedelta, poll_seconds: float = 2.0, reroute_after: float = 20.0
    ) -> None:
        self.pool = pool
        self.grace = grace
        self.poll_seconds = poll_seconds
        self.reroute_after = reroute_after
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def pass_once(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            moved = await handlers.resolve_waiting(conn, now=datetime.now(UTC), grace=self.grace)
            moved += await handlers.reroute_stranded(
                conn, older_than_seconds=self.reroute_after, grace=self.grace
            )
        return moved

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.pass_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a database outage is waited out
                log.error("ekey_wait_error", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.poll_seconds)
