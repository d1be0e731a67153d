"""The customs service's use cases, one handler each, found by type:

* ``EVENT_HANDLERS``: what the customs service learns from ``ail.submission`` (run by the consumer
  inside its transaction, together with the inbox record): which applications are approved, their
  application dates, and the licenses to deliver to Customs;
* ``COMMAND_HANDLERS``: the operator's re-send (HTTP), and the delivery and clearance-feed steps
  of the workers (``service_layer/workers.py``).

Every handler takes a unit of work (``service_layer/unit_of_work.py``); the aggregates
(``domain/model.py``) decide and record their events, the unit of work writes state and outbox in
one transaction. Unit tests: ``tests/unit/customs/test_handlers.py`` with in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from ail_customs.domain.commands import (
    ApplyFeedPage,
    ClaimDueCancellations,
    ClaimDueLicenses,
    CloseDelivery,
    ExpireLicenses,
    OpsResendDelivery,
    RecordCancellation,
    RecordDelivery,
    RequestReissue,
    RequestResend,
    SurrenderLicense,
)
from ail_customs.domain.delivery import RESULT_TEXT
from ail_customs.domain.feed import FEED, FeedCursor
from ail_customs.domain.model import CustomsApplication, HistoryEntry, License, LicenseRefused
from ail_customs.service_layer.clearance import apply_page
from ail_customs.service_layer.unit_of_work import UnitOfWork
from ail_shared.consumer import EventHandler, PermanentError
from ail_shared.errors import Conflict, NotFound
from ail_shared.events import (
    Envelope,
    Event,
    LicenseCancellationReceived,
    LicenseIssued,
    LicenseReissueRequested,
    ReviewResultReceived,
    SubmissionAccepted,
)
from ail_shared.licenses import CancelReason, Refusal
from ail_shared.lifecycle import AFTER_ACCEPTED, AFTER_ISSUED, ApplicationStatus, status_after_review
from ail_shared.logging import get_logger

log = get_logger("ail.customs.handlers")


def _now() -> datetime:
    return datetime.now(UTC)


async def _application(uow: UnitOfWork, application_id: str, enterprise_code: str) -> CustomsApplication:
    return await uow.applications.get(application_id=application_id) or CustomsApplication(
        application_id=application_id, enterprise_code=enterprise_code
    )


# ---------------------------------------------------------------------------------- events


async def on_submission_accepted(uow: UnitOfWork, event: SubmissionAccepted, env: Envelope) -> None:
    async with uow:
        app = await _application(uow, event.application_id, env.tenant)
        app.learn(AFTER_ACCEPTED, form_no=event.form_no, applied_at=event.applied_at)
        await uow.applications.save(app)
        await uow.history.add(
            HistoryEntry(
                application_id=event.application_id,
                enterprise_code=env.tenant,
                license_no=None,
                occurred_at=event.applied_at,
                kind="submission_accepted",
                summary=f"MOFCOM accepted the submission, form no. {event.form_no}",
                data={"form_no": event.form_no},
            )
        )


async def on_review_result(uow: UnitOfWork, event: ReviewResultReceived, env: Envelope) -> None:
    async with uow:
        status = status_after_review(event.stage, event.result)
        if status is ApplicationStatus.APPROVED:
            # Only approved applications are shown by the customs status query.
            summary = event.application
            app = await _application(uow, event.application_id, env.tenant)
            app.learn(
                status,
                form_no=event.form_no,
                license_no=event.license_no,
                serial_no=summary.serial_no if summary else None,
                year=summary.year if summary else None,
                commodity_code=summary.commodity_code if summary else None,
                commodity_name=summary.commodity_name if summary else "",
            )
            await uow.applications.save(app)
        stage = "first review" if event.stage == "first" else "second review"
        await uow.history.add(
            HistoryEntry(
                application_id=event.application_id,
                enterprise_code=env.tenant,
                license_no=event.license_no,
                occurred_at=event.reviewed_at,
                kind="review_result",
                summary=f"{stage} {event.result}" + (f": {event.opinion}" if event.opinion else ""),
                data={
                    "stage": event.stage,
                    "result": event.result,
                    "opinion": event.opinion,
                    "license_no": event.license_no,
                },
            )
        )


async def on_license_issued(uow: UnitOfWork, event: LicenseIssued, env: Envelope) -> None:
    if event.quantity <= 0 or not event.quantity.is_finite():
        raise PermanentError(f"license {event.license_no}: quantity {event.quantity} must be greater than 0")
    if event.overflow_tolerance_pct is not None and not (0 <= event.overflow_tolerance_pct <= 100):
        raise PermanentError(
            f"license {event.license_no}: overflow tolerance {event.overflow_tolerance_pct}%"
        )
    lic = License.issued(event)
    async with uow:
        old = None
        if event.replaces_license_no:
            old = await uow.licenses.get(license_no=event.replaces_license_no, for_update=True)
            if old is not None and old.enterprise_code != event.enterprise_code:
                raise PermanentError(
                    f"license {event.license_no} names {event.replaces_license_no} of another enterprise"
                )
        app = await _application(uow, event.application_id, event.enterprise_code)
        app.learn(
            AFTER_ISSUED,
            form_no=event.form_no,
            license_no=event.license_no,
            commodity_code=event.commodity_code,
            commodity_name=event.commodity_name,
        )
        await uow.applications.save(app)
        if old is not None:
            await _take_over(uow, lic, old, event)
        if not await uow.licenses.add(lic):
            return  # the same license announced again (another event id): nothing new to deliver
        if old is not None and old.cancellation_status in (None, "stored"):
            # Nothing for Customs to cancel first (the old one lapsed or was used up meanwhile,
            # or its cancellation is there already): the replacement goes out at once.
            await uow.licenses.release_replacement(replaces_license_no=old.license_no)
        await uow.history.add(
            HistoryEntry(
                application_id=event.application_id,
                enterprise_code=event.enterprise_code,
                license_no=event.license_no,
                occurred_at=event.issued_at,
                kind="license_issued",
                summary=(
                    f"license {event.license_no} issued: {event.quantity} {event.unit} of"
                    f" {event.commodity_code} {event.commodity_name}, valid until"
                    f" {lic.valid_until.isoformat()},"
                    f" {'one batch one license' if event.one_batch_one_license else 'up to 6 uses'},"
                    f" overflow tolerance {lic.tolerance_pct}% ({lic.tolerance_source})"
                ),
                data={
                    "quantity": event.quantity,
                    "unit": event.unit,
                    "valid_until": lic.valid_until,
                    "one_batch_one_license": event.one_batch_one_license,
                    "tolerance_pct": lic.tolerance_pct,
                    "tolerance_source": lic.tolerance_source,
                },
            )
        )
        uow.license_due()


async def _take_over(uow: UnitOfWork, lic: License, old: License, event: LicenseIssued) -> None:
    """A change or extension was issued: the new license covers at most what the old one has
    left now (it may have been used since the draft was made), and the old one is cancelled at
    the new one's issue (DOMAIN 9; docs/licenses.md). Customs gets the cancellation first."""
    left_quantity = old.remaining_quantity
    left_uses = 0 if old.ledger.closed else old.ledger.max_uses - old.uses
    notes = []
    if lic.quantity > left_quantity > 0:
        notes.append(f"quantity {lic.quantity} capped at {left_quantity} left on {old.license_no}")
        lic.quantity = left_quantity
    if left_quantity <= 0:
        left_uses = 0
    if lic.ledger.max_uses > left_uses:
        notes.append(f"{left_uses} use(s) left on {old.license_no}")
        lic.max_uses = left_uses
    if old.cancel(
        CancelReason.REPLACED,
        event.issued_at,
        detail=f"replaced by license {lic.license_no}",
        replaced_by=lic.license_no,
    ):
        await uow.licenses.save_state(old)
        uow.track(old)
        await uow.history.add(
            HistoryEntry(
                application_id=old.application_id,
                enterprise_code=old.enterprise_code,
                license_no=old.license_no,
                occurred_at=event.issued_at,
                kind="license_cancelled",
                summary=f"license {old.license_no} cancelled: replaced by license {lic.license_no}"
                f" ({old.unused_quantity} {old.unit} unused)",
                data={
                    "reason": "replaced",
                    "replaced_by": lic.license_no,
                    "unused_quantity": old.unused_quantity,
                },
            )
        )
        uow.license_due()
    await uow.history.add(
        HistoryEntry(
            application_id=event.application_id,
            enterprise_code=event.enterprise_code,
            license_no=lic.license_no,
            occurred_at=event.issued_at,
            kind="license_replaces",
            summary=f"license {lic.license_no} replaces license {old.license_no}"
            + (f"; {', '.join(notes)}" if notes else ""),
            data={"replaces_license_no": old.license_no, "quantity": lic.quantity, "max_uses": lic.max_uses},
        )
    )


async def on_cancellation_received(
    uow: UnitOfWork, event: LicenseCancellationReceived, env: Envelope
) -> None:
    """MOFCOM cancelled a license: cancelled (reason ``mofcom``), Customs told, the applicant
    told through ``LicenseCancelled``. A repeated one, or one for a license already final,
    changes nothing."""
    async with uow:
        lic = await uow.licenses.get(license_no=event.license_no, for_update=True)
        if lic is None:
            raise PermanentError(
                f"MOFCOM cancelled license {event.license_no}, which this service never heard of"
            )
        detail = event.reason or "cancelled by MOFCOM"
        if not lic.cancel(CancelReason.MOFCOM, event.cancelled_at, detail=detail):
            return
        await uow.licenses.save_state(lic)
        uow.track(lic)
        await _state_history(uow, lic, f"license {lic.license_no} cancelled by MOFCOM: {detail}")
        uow.license_due()


async def _state_history(uow: UnitOfWork, lic: License, summary: str) -> None:
    await uow.history.add(
        HistoryEntry(
            application_id=lic.application_id,
            enterprise_code=lic.enterprise_code,
            license_no=lic.license_no,
            occurred_at=lic.state_changed_at or _now(),
            kind=f"license_{lic.state}",
            summary=summary,
            data={
                "state": str(lic.state),
                "reason": lic.state_reason,
                "detail": lic.state_detail,
                "unused_quantity": lic.unused_quantity,
            },
        )
    )


EVENT_HANDLERS: Mapping[type[Event], EventHandler[UnitOfWork]] = {
    SubmissionAccepted: on_submission_accepted,
    ReviewResultReceived: on_review_result,
    LicenseIssued: on_license_issued,
    LicenseCancellationReceived: on_cancellation_received,
}


# ---------------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class ResendAnswer:
    license_no: str
    customs_status: str | None
    scheduled: bool  # False: it was already due or in flight (idempotent)


async def request_resend(uow: UnitOfWork, cmd: RequestResend) -> ResendAnswer:
    """The operator's re-send. Idempotent: a license already due or in flight is left as it is; a
    stored license is not sent again (409)."""
    async with uow:
        lic = await uow.licenses.of_tenant(
            license_no=cmd.license_no, enterprise_codes=cmd.enterprise_codes, for_update=True
        )
        status = lic.customs_status
        now = _now()
        scheduled = lic.request_resend(now)
        if scheduled:
            await uow.licenses.save_delivery(lic)
            await uow.history.add(
                HistoryEntry(
                    application_id=lic.application_id,
                    enterprise_code=lic.enterprise_code,
                    license_no=lic.license_no,
                    occurred_at=now,
                    kind="customs_resend_requested",
                    summary=f"re-send to Customs requested by {cmd.principal} (was {status})",
                    data={"previous_status": status, "by": cmd.principal},
                )
            )
            uow.license_due()
    return ResendAnswer(lic.license_no, status, scheduled)


async def _ops_license(uow: UnitOfWork, license_no: str) -> License:
    lic = await uow.licenses.get(license_no=license_no, for_update=True)
    if lic is None:
        raise NotFound(f"license {license_no} not found: list them with GET /api/v1/ops/customs-deliveries")
    return lic


async def ops_resend_delivery(uow: UnitOfWork, cmd: OpsResendDelivery) -> License:
    """Operations: send a license to Customs again now (after send_failed or store_failed, also
    a closed one), with fresh automatic rounds; recorded (who, when, why) with the change."""
    async with uow:
        lic = await _ops_license(uow, cmd.license_no)
        status, now = lic.customs_status, _now()
        if not lic.request_resend(now):
            raise Conflict(f"license {lic.license_no} is already due or being delivered: nothing to resend")
        await uow.licenses.save_delivery(lic)
        await uow.ops_actions.record(
            license_no=lic.license_no, action="resend", reason=cmd.reason, actor=cmd.actor
        )
        await uow.history.add(
            HistoryEntry(
                application_id=lic.application_id,
                enterprise_code=lic.enterprise_code,
                license_no=lic.license_no,
                occurred_at=now,
                kind="customs_resend_requested",
                summary=f"re-send to Customs by operations ({cmd.actor}, was {status}): {cmd.reason}",
                data={"previous_status": status, "by": cmd.actor, "reason": cmd.reason},
            )
        )
        uow.license_due()
    log.info("ops_resend_delivery", license_no=lic.license_no, actor=cmd.actor)
    return lic


async def close_delivery(uow: UnitOfWork, cmd: CloseDelivery) -> License:
    """Operations: give up on a failed delivery (no more automatic re-sends). ``CustomsStored``
    with the reason tells the application's history; recorded (who, when, why) in the same
    transaction."""
    async with uow:
        lic = await _ops_license(uow, cmd.license_no)
        lic.close_delivery(cmd.reason)
        await uow.licenses.save_delivery(lic)
        uow.track(lic)
        await uow.ops_actions.record(
            license_no=lic.license_no, action="close", reason=cmd.reason, actor=cmd.actor
        )
        await uow.history.add(
            HistoryEntry(
                application_id=lic.application_id,
                enterprise_code=lic.enterprise_code,
                license_no=lic.license_no,
                occurred_at=_now(),
                kind="customs_delivery_closed",
                summary=f"delivery to Customs closed by operations ({cmd.actor}): {cmd.reason}",
                data={"status": lic.customs_status, "by": cmd.actor, "reason": cmd.reason},
            )
        )
    log.info("ops_close_delivery", license_no=lic.license_no, actor=cmd.actor)
    return lic


async def claim_due_licenses(uow: UnitOfWork, cmd: ClaimDueLicenses) -> list[License]:
    """One short transaction: the claimed licenses are ``not_arrived`` and leased."""
    async with uow:
        return await uow.licenses.claim_due(limit=cmd.limit, lease_seconds=cmd.lease_seconds)


async def record_delivery(uow: UnitOfWork, cmd: RecordDelivery) -> bool:
    """The outcome of a delivery round, its ``CustomsStored`` event and the history, in one
    transaction. False when a newer round took over after this one's lease ran out."""
    now = _now()
    async with uow:
        lic = await uow.licenses.get(license_no=cmd.license_no, for_update=True)
        if lic is None or lic.delivery_rounds != cmd.round:
            return False  # the newer round's outcome counts
        lic.record_delivery(cmd.outcome, now=now, policy=cmd.policy)
        await uow.licenses.save_delivery(lic)
        uow.track(lic)
        outcome, next_at = cmd.outcome, lic.next_delivery_at
        await uow.history.add(
            HistoryEntry(
                application_id=lic.application_id,
                enterprise_code=lic.enterprise_code,
                license_no=lic.license_no,
                occurred_at=now,
                kind="customs_delivery",
                summary=f"delivery round {cmd.round}: {RESULT_TEXT[outcome.result]}"
                + (f" ({outcome.detail})" if outcome.detail else "")
                + (f"; automatic re-send at {next_at.isoformat()}" if next_at else ""),
                data={
                    "round": cmd.round,
                    "result": outcome.result,
                    "detail": outcome.detail,
                    "tries": outcome.tries,
                    "receipt_no": outcome.receipt_no,
                    "started_at": cmd.started_at,
                    "next_auto_resend_at": next_at,
                },
            )
        )
    log.info("customs_delivery", license_no=cmd.license_no, result=cmd.outcome.result, round=cmd.round)
    return True


async def apply_feed_page(uow: UnitOfWork, cmd: ApplyFeedPage) -> int:
    """A page of the clearance feed and the new cursor, in one transaction; returns the number
    of messages read (0 when another replica moved the cursor meanwhile: nothing applied)."""
    async with uow:
        if await uow.feed.cursor(feed=FEED, for_update=True) != cmd.expected:
            return 0
        position = cmd.after
        if cmd.messages:
            position = max(position, await apply_page(uow, list(cmd.messages)))
        await uow.feed.set_cursor(feed=FEED, cursor=FeedCursor(cmd.epoch, position))
    return len(cmd.messages)


async def surrender_license(uow: UnitOfWork, cmd: SurrenderLicense) -> License:
    """Hand back an unused valid license (409 with the reason otherwise). Asked again, it answers
    the surrendered license as it is."""
    now = _now()
    async with uow:
        lic = await uow.licenses.of_tenant(
            license_no=cmd.license_no, enterprise_codes=cmd.enterprise_codes, for_update=True
        )
        was = lic.state
        lic.surrender(cmd.reason, by=cmd.principal, now=now)
        if was != lic.state:
            await uow.licenses.save_state(lic)
            uow.track(lic)
            await _state_history(
                uow, lic, f"license {lic.license_no} surrendered by {cmd.principal}: {cmd.reason}"
            )
            uow.license_due()
    return lic


@dataclass(frozen=True)
class ReissueAnswer:
    license_no: str
    application_id: str  # the draft's (made by the application service from the event)
    quantity: Decimal
    uses: int
    created: bool  # False: a reissue was asked for already; the same draft


async def request_reissue(uow: UnitOfWork, cmd: RequestReissue) -> ReissueAnswer:
    """A change or extension: refused unless the license is valid with something left
    (``replacement_allowance``); else ``LicenseReissueRequested`` names the new draft, which the
    application service makes. One pending reissue per license (asked again: the same draft)."""
    now = _now()
    async with uow:
        lic = await uow.licenses.of_tenant(
            license_no=cmd.license_no, enterprise_codes=cmd.enterprise_codes, for_update=True
        )
        allowance = lic.replacement(now)
        if isinstance(allowance, Refusal):
            raise LicenseRefused(allowance)
        if lic.reissue_application_id:
            return ReissueAnswer(
                lic.license_no, lic.reissue_application_id, allowance.quantity, allowance.uses, False
            )
        lic.reissue_application_id = str(uuid4())
        lic.events.append(
            LicenseReissueRequested(
                application_id=lic.application_id,
                license_no=lic.license_no,
                new_application_id=lic.reissue_application_id,
                enterprise_code=lic.enterprise_code,
                quantity=allowance.quantity,
                uses=allowance.uses,
                requested_by=cmd.principal,
                requested_at=now,
            )
        )
        await uow.licenses.save_state(lic)
        uow.track(lic)
        await uow.history.add(
            HistoryEntry(
                application_id=lic.application_id,
                enterprise_code=lic.enterprise_code,
                license_no=lic.license_no,
                occurred_at=now,
                kind="license_reissue_requested",
                summary=f"change or extension of license {lic.license_no} asked for by {cmd.principal}:"
                f" draft {lic.reissue_application_id} for at most {allowance.quantity} {lic.unit},"
                f" {allowance.uses} use(s)",
                data={
                    "new_application_id": lic.reissue_application_id,
                    "quantity": allowance.quantity,
                    "uses": allowance.uses,
                },
            )
        )
    return ReissueAnswer(lic.license_no, lic.reissue_application_id, allowance.quantity, allowance.uses, True)


async def claim_due_cancellations(uow: UnitOfWork, cmd: ClaimDueCancellations) -> list[License]:
    async with uow:
        return await uow.licenses.claim_due_cancellations(limit=cmd.limit, lease_seconds=cmd.lease_seconds)


async def record_cancellation(uow: UnitOfWork, cmd: RecordCancellation) -> bool:
    """Customs' answer to a cancellation round, its event and history; once stored, the license's
    replacement (if any) becomes due for delivery. False when a newer round took over."""
    now = _now()
    async with uow:
        lic = await uow.licenses.get(license_no=cmd.license_no, for_update=True)
        if lic is None or lic.cancellation_rounds != cmd.round or lic.cancellation_status == "stored":
            return False
        lic.record_cancellation(cmd.stored, detail=cmd.detail, now=now, policy=cmd.policy)
        await uow.licenses.save_state(lic)
        uow.track(lic)
        await uow.history.add(
            HistoryEntry(
                application_id=lic.application_id,
                enterprise_code=lic.enterprise_code,
                license_no=lic.license_no,
                occurred_at=now,
                kind="customs_cancellation",
                summary=f"cancellation round {cmd.round}: "
                + ("Customs holds the cancellation" if cmd.stored else f"not delivered ({cmd.detail})"),
                data={"round": cmd.round, "stored": cmd.stored, "detail": cmd.detail},
            )
        )
        if cmd.stored and await uow.licenses.release_replacement(replaces_license_no=lic.license_no):
            uow.license_due()
    log.info("customs_cancellation", license_no=cmd.license_no, stored=cmd.stored, round=cmd.round)
    return True


async def expire_licenses(uow: UnitOfWork, cmd: ExpireLicenses) -> int:
    """One sweep: valid licenses past their last day (China date) become expired, with what was
    left unused. Rows are taken ``FOR UPDATE SKIP LOCKED``: replicas sweeping at once share the
    work, and a license already expired is no longer ``valid``, so none expires twice."""
    now = _now()
    async with uow:
        expired = 0
        for lic in await uow.licenses.lock_expired(limit=cmd.limit):
            if lic.expire(now):
                await uow.licenses.save_state(lic)
                uow.track(lic)
                await _state_history(
                    uow,
                    lic,
                    f"license {lic.license_no} expired (valid until {lic.valid_until.isoformat()}),"
                    f" {lic.unused_quantity} {lic.unit} unused",
                )
                expired += 1
    return expired


CommandHandler = Callable[[UnitOfWork, Any], Awaitable[Any]]

COMMAND_HANDLERS: Mapping[type[Any], CommandHandler] = {
    RequestResend: request_resend,
    OpsResendDelivery: ops_resend_delivery,
    CloseDelivery: close_delivery,
    ClaimDueLicenses: claim_due_licenses,
    RecordDelivery: record_delivery,
    ApplyFeedPage: apply_feed_page,
    SurrenderLicense: surrender_license,
    RequestReissue: request_reissue,
    ClaimDueCancellations: claim_due_cancellations,
    RecordCancellation: record_cancellation,
    ExpireLicenses: expire_licenses,
}
