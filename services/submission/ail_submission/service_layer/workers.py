"""The submission service's background workers, on the shared worker helper
(``ail_shared.workers.Worker``: wake, stop, back off after a failure, e.g. a database outage).

* ``Sender``: sends signed submissions to MOFCOM, outside any consumer transaction. Rows are
  claimed with a lease (``FOR UPDATE SKIP LOCKED``, so several replicas share the work), sent with
  their idempotency key (= submission id), and each outcome is committed with its event
  (``handlers.send_submission``). When MOFCOM is unavailable the row keeps ``state = 'signed'``
  with ``attempts``, ``last_error`` and a backed-off ``next_attempt_at``; a crash mid-call only
  lets the lease expire, and the retry with the same idempotency key gets the same form no. back.
  Once its retries are spent the row is ``parked`` for operations (``/api/v1/ops/submissions``).
* ``EkeyWaiter``: keeps waiting submissions moving (issue 10, item 3). Heartbeats decide most
  waits at once (``handlers.on_heartbeat``); this catches the rest: a submission that began
  waiting while the heartbeat that frees it was being applied (two transactions, neither saw the
  other), one whose grace period ran out while no heartbeat came, and a signature request sent to
  a host that stopped announcing the key (``handlers.reroute_stranded``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ail_shared.logging import get_logger
from ail_shared.workers import Worker
from ail_submission.domain.commands import (
    ClaimDueSubmissions,
    Command,
    RerouteStrandedRequests,
    ResolveWaitingSubmissions,
    SendSubmission,
)
from ail_submission.domain.model import Submission

log = get_logger("ail.submission.workers")

# The command bus (``bootstrap.Deps.handle``): finds the handler by the command's type.
Handle = Callable[[Command], Awaitable[Any]]


class Sender:
    def __init__(
        self,
        handle: Handle,
        *,
        concurrency: int = 32,
        lease_seconds: float = 30.0,
        poll_seconds: float = 0.25,
    ) -> None:
        self.handle = handle
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.worker = Worker("mofcom-sender", self.step, poll_seconds=poll_seconds)
        self._inflight: set[asyncio.Task[Any]] = set()
        self.sent = 0

    def wake(self) -> None:
        self.worker.wake()

    def start(self) -> asyncio.Task[None]:
        return self.worker.start()

    async def aclose(self) -> None:
        await self.worker.aclose()
        for task in list(self._inflight):
            task.cancel()

    async def step(self) -> float | None:
        """Claim as many due submissions as there is room for and send each in its own task.
        None (wait for the poll or a wake) when nothing is due; 0 (again at once) otherwise."""
        free = self.concurrency - len(self._inflight)
        if free <= 0:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            return 0
        claimed: list[Submission] = await self.handle(
            ClaimDueSubmissions(limit=free, lease_seconds=self.lease_seconds, rows=True)
        )
        for sub in claimed:
            task = asyncio.create_task(self._send(sub))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        if not claimed:
            return None
        if len(claimed) >= free and self._inflight:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
        return 0

    async def _send(self, sub: Submission) -> None:
        try:
            if await self.handle(SendSubmission(sub.submission_id, claimed=sub)) == "accepted":
                self.sent += 1
        except Exception as exc:  # noqa: BLE001 - the lease expires and the row is sent again
            log.error("sender_error", submission_id=str(sub.submission_id), error=repr(exc))


class EkeyWaiter:
    def __init__(self, handle: Handle, *, poll_seconds: float = 2.0, reroute_after: float = 20.0) -> None:
        self.handle = handle
        self.reroute_after = reroute_after
        self.worker = Worker("ekey-wait", self.step, poll_seconds=poll_seconds)

    def start(self) -> asyncio.Task[None]:
        return self.worker.start()

    async def aclose(self) -> None:
        await self.worker.aclose()

    async def step(self) -> float | None:
        moved: int = await self.handle(ResolveWaitingSubmissions())
        moved += await self.handle(RerouteStrandedRequests(older_than_seconds=self.reroute_after))
        return None
