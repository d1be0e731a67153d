"""The application service's background worker: the key-agri filing reporter, on the shared
worker helper (``ail_shared.workers.Worker``: poll, wake, back off on failure, stop).

A filing is saved first (the client's data is never lost to an outage), then reported by this
worker: each round (``handlers.report_due_filings``) claims the due filings, reports them to
MOFCOM and records the outcome on each (``KeyAgriFiling.reported`` / ``report_failed``). The API
wakes it after a filing is saved or sent again, so a report goes out at once; otherwise it polls.
A round that found work is followed by the next at once; a failing round (the database away) is
retried with the worker helper's backoff."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ail_application.domain.commands import ReportDueFilings
from ail_application.service_layer.handlers import Context, report_due_filings
from ail_application.service_layer.unit_of_work import UnitOfWork
from ail_shared.workers import Worker


class FilingReporter:
    """``wake()`` after a filing is saved so it goes out at once."""

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        ctx: Context,
        *,
        poll_seconds: float = 5.0,
        batch: int = 20,
        **worker_options: Any,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.ctx = ctx
        self.batch = batch
        self.worker = Worker("filing-reporter", self.step, poll_seconds=poll_seconds, **worker_options)

    async def step(self) -> float | None:
        tried = await report_due_filings(self.unit_of_work(), ReportDueFilings(limit=self.batch), self.ctx)
        return 0.0 if tried else None

    def wake(self) -> None:
        self.worker.wake()

    def start(self) -> None:
        self.worker.start()

    async def aclose(self) -> None:
        await self.worker.aclose()
