"""The customs service's background workers, on the shared worker helper
(``ail_shared.workers.Worker``: poll, wake, back off, stop).

* **delivery**: a license is due when ``next_delivery_at <= now()``. A step claims due licenses in
  one short transaction (customs status ``not_arrived``, ``next_delivery_at`` pushed to the end of
  a lease, so a worker that dies mid-round is replaced after the lease), calls Customs outside any
  transaction, then records each outcome, its ``CustomsStored`` event (outbox) and the history in
  one transaction. A failed round schedules an automatic re-send (``ResendPolicy``); after the
  last automatic round only the operator's re-send sends it again. Woken when a license becomes
  due (``UnitOfWork.license_due``).
* **cancellations** (same worker, first in each step): a surrendered or cancelled license's
  cancellation goes to Customs on the same lease scheme, re-sent until Customs holds it (never
  given up: Customs must stop accepting the license). A replacement license is delivered only
  after Customs holds the old one's cancellation, so Customs never has both valid at once.
* **expiry**: ``ExpireLicenses`` sweeps valid licenses past their last day (China date); rows
  are locked ``FOR UPDATE SKIP LOCKED``, so several replicas sweep safely at once.
* **clearance feed**: reads Customs' clearance feed after the stored cursor and applies it page by
  page (``handlers.apply_feed_page``); a full page is followed at once by the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ail_customs.adapters.customs_client import CustomsSystem
from ail_customs.domain.commands import (
    ApplyFeedPage,
    ClaimDueCancellations,
    ClaimDueLicenses,
    ExpireLicenses,
    RecordCancellation,
    RecordDelivery,
)
from ail_customs.domain.delivery import DeliveryOutcome, ResendPolicy
from ail_customs.domain.feed import FEED
from ail_customs.domain.model import License
from ail_customs.service_layer import handlers
from ail_customs.service_layer.unit_of_work import UnitOfWork
from ail_shared.failpoints import failpoint
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
        "max_uses": lic.ledger.max_uses,
        "replaces_license_no": lic.replaces_license_no,
    }


def cancellation_message(lic: License) -> dict[str, Any]:
    """What Customs receives when a license may no longer be used."""
    return {
        "license_no": lic.license_no,
        "enterprise_code": lic.enterprise_code,
        "state": str(lic.state),
        "reason": lic.state_reason,
        "detail": lic.state_detail,
        "replaced_by": lic.replaced_by,
        "cancelled_at": lic.state_changed_at.isoformat() if lic.state_changed_at else None,
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
        cancellation_lease_seconds: float = 10.0,
    ) -> None:
        self.uow = uow
        self.customs = customs
        self.lease_seconds = lease_seconds
        self.cancellation_lease_seconds = cancellation_lease_seconds
        self.policy = policy
        self.concurrency = concurrency

    async def step(self) -> float | None:
        """Cancellations first, then one batch of licenses; go on at once while any is due, else
        wait the poll interval."""
        cancellations = await handlers.claim_due_cancellations(
            self.uow(),
            ClaimDueCancellations(limit=self.concurrency, lease_seconds=self.cancellation_lease_seconds),
        )
        if cancellations:
            await asyncio.gather(*(self._cancel(lic) for lic in cancellations))
        claimed = await handlers.claim_due_licenses(
            self.uow(), ClaimDueLicenses(limit=self.concurrency, lease_seconds=self.lease_seconds)
        )
        if claimed:
            await asyncio.gather(*(self._deliver(lic) for lic in claimed))
        return 0 if claimed or cancellations else None

    async def _cancel(self, lic: License) -> None:
        try:
            stored, detail = await self.customs.cancel(cancellation_message(lic))
        except Exception as exc:  # noqa: BLE001 - an adapter bug must still leave a visible state
            stored, detail = False, f"cancellation error: {exc!r}"
        # Crash test point: Customs holds the cancellation, this service has not recorded it (nor
        # released the replacement). After a restart the round is re-sent when its lease ends.
        failpoint("customs_after_cancellation_sent")
        await handlers.record_cancellation(
            self.uow(),
            RecordCancellation(
                license_no=lic.license_no,
                round=lic.cancellation_rounds,
                stored=stored,
                detail=detail,
                policy=self.policy,
            ),
        )

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


class ExpirySweep:
    """One step of the expiry job: expire a batch; go on at once while a full batch came back."""

    def __init__(self, uow: UnitOfWorkFactory, *, batch: int = 200) -> None:
        self.uow = uow
        self.batch = batch

    async def step(self) -> float | None:
        n = await handlers.expire_licenses(self.uow(), ExpireLicenses(limit=self.batch))
        if n:
            log.info("licenses_expired", count=n)
        return 0 if n >= self.batch else None


def expiry_worker(step: ExpirySweep, *, poll_seconds: float) -> Worker:
    return Worker("customs-license-expiry", step.step, poll_seconds=poll_seconds)


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
