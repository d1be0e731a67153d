"""The customs service's background workers, on the shared worker helper
(``ail_shared.workers.Worker``: poll, wake, back off, stop).

* **delivery**: a license is due when ``next_delivery_at <= now()``. A step claims due licenses in
  one short transaction (customs status ``not_arrived``, ``next_delivery_at`` pushed to the end of
  a lease, so a worker that dies mid-round is replaced after the lease), calls Customs outside any
  transaction, then records each outcome, its ``CustomsStored`` event (outbox) and the history in
  one transaction. A failed round schedules an automatic re-send (``ResendPolicy``); after the
  last automatic round only the operator's re-send sends it again. Woken when a license becomes
  due (``UnitOfWork.license_due``).
* **clearance feed**: reads Customs' clearance feed after the stored cursor and applies it page by
  page (``handlers.apply_feed_page``); a full page is followed at once by the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ail_customs.adapters.customs_client import CustomsSystem
from ail_customs.domain.commands import ApplyFeedPage, ClaimDueLicenses, RecordDelivery
from ail_customs.domain.delivery import DeliveryOutcome, ResendPolicy
from ail_customs.domain.feed import FEED
from ail_customs.domain.model import License
from ail_customs.service_layer import handlers
from ail_customs.service_layer.unit_of_work import UnitOfWork
from ail_shared.logging import get_logger
from ail_shared.telemetry import continue_trace
from ail_shared.workers import Worker

log = get_logger("ail.customs.workers")

UnitOfWorkFactory = Callable[[], UnitOfWork]
DEFAULT_POLICY = ResendPolicy()


def license_message(lic: License) -> dict[str, Any]:
    """What Customs receives for one license."""
    return {
        "license_no": lic.license_no,
        "enterprise_code": lic.enterprise_code,
        "form_no": lic.form_no,
        "commodity_code": lic.commodity_code,
        "commodity_name": lic.commodity_name,
        "unit": lic.unit,
        "quantity": str(lic.quantity),
        "one_batch_one_license": lic.one_batch_one_license,
        "issued_at": lic.issued_at.isoformat(),
        "valid_until": lic.valid_until.isoformat(),
    }


class Delivery:
    """One step of the delivery worker: claim due licenses, deliver them at once, record."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        customs: CustomsSystem,
        *,
        lease_seconds: float = 60.0,
        policy: ResendPolicy = DEFAULT_POLICY,
        concurrency: int = 8,
    ) -> None:
        self.uow = uow
        self.customs = customs
        self.lease_seconds = lease_seconds
        self.policy = policy
        self.concurrency = concurrency

    async def step(self) -> float | None:
        """Deliver one batch; go on at once while licenses are due, else wait the poll interval."""
        claimed = await handlers.claim_due_licenses(
            self.uow(), ClaimDueLicenses(limit=self.concurrency, lease_seconds=self.lease_seconds)
        )
        if claimed:
            await asyncio.gather(*(self._deliver(lic) for lic in claimed))
        return 0 if claimed else None

    async def _deliver(self, lic: License) -> None:
        # Delivered by a worker, long after the approval: it continues the approval's trace, so
        # the call to Customs (and the CustomsStored event) belongs to the submission's trace.
        with continue_trace(
            lic.trace_context, "deliver to Customs", attributes={"ail.license_no": lic.license_no}
        ):
            await self._deliver_traced(lic)

    async def _deliver_traced(self, lic: License) -> None:
        started = datetime.now(UTC)
        try:
            outcome = await self.customs.deliver(license_message(lic))
        except Exception as exc:  # noqa: BLE001 - an adapter bug must still leave a visible state
            outcome = DeliveryOutcome("send_failed", f"delivery error: {exc!r}")
        await handlers.record_delivery(
            self.uow(),
            RecordDelivery(
                license_no=lic.license_no,
                round=lic.delivery_rounds,
                outcome=outcome,
                started_at=started,
                policy=self.policy,
            ),
        )


class FeedReader:
    """One step of the clearance-feed worker: read the page after the cursor and apply it."""

    def __init__(self, uow: UnitOfWorkFactory, customs: CustomsSystem, *, page_size: int = 500) -> None:
        self.uow = uow
        self.customs = customs
        self.page_size = page_size
        self.applied = 0

    async def step(self) -> float | None:
        """Apply one page; a full page is followed at once by the next."""
        uow = self.uow()
        async with uow:
            cursor = await uow.feed.cursor(feed=FEED)
        position = cursor.position if cursor else 0
        page = await self.customs.feed(after=position, limit=self.page_size)
        if cursor is not None and cursor.epoch != page.epoch:
            # Customs' feed started over: read it again from the start; message ids dedup.
            log.warning("clearance_feed_new_epoch", old=cursor.epoch, new=page.epoch)
            position = 0
            page = await self.customs.feed(after=0, limit=self.page_size)
        n = await handlers.apply_feed_page(
            self.uow(),
            ApplyFeedPage(epoch=page.epoch, after=position, messages=tuple(page.messages), expected=cursor),
        )
        self.applied += n
        return 0 if n >= self.page_size else None


def delivery_worker(step: Delivery, *, poll_seconds: float) -> Worker:
    return Worker("customs-delivery", step.step, poll_seconds=poll_seconds)


def feed_worker(step: FeedReader, *, poll_seconds: float) -> Worker:
    # The old loop backed off from the poll interval up to 10 s while Customs was away.
    return Worker(
        "customs-clearance-feed",
        step.step,
        poll_seconds=poll_seconds,
        backoff_base=poll_seconds,
        backoff_cap=10.0,
    )
