"""What the customs service learns from the submission topic (run inside the consumer's
transaction, together with its inbox record): which applications are approved, their
application dates, and the licenses to deliver to Customs."""

from __future__ import annotations

import asyncio

import asyncpg

from ail_customs.adapters.repository import CustomsRepository
from ail_customs.domain.tolerance import tolerance_for
from ail_shared.consumer import Handler, PermanentError
from ail_shared.events import Envelope, Event, LicenseIssued, ReviewResultReceived, SubmissionAccepted

# Set when a license becomes due, so the delivery worker need not wait for its next poll.
DELIVERY_WAKE = asyncio.Event()


async def on_submission_accepted(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    assert isinstance(event, SubmissionAccepted)
    repo = CustomsRepository(conn)
    await repo.upsert_application(
        status="submitted",
        application_id=event.application_id,
        enterprise_code=env.tenant,
        form_no=event.form_no,
        applied_at=event.applied_at,
    )
    await repo.add_history(
        application_id=event.application_id,
        enterprise_code=env.tenant,
        license_no=None,
        occurred_at=event.applied_at,
        kind="submission_accepted",
        summary=f"MOFCOM accepted the submission, form no. {event.form_no}",
        data={"form_no": event.form_no},
    )


async def on_review_result(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    assert isinstance(event, ReviewResultReceived)
    repo = CustomsRepository(conn)
    approved = event.stage == "second" and event.result == "passed"
    if approved:
        summary = event.application
        await repo.upsert_application(
            status="approved",
            application_id=event.application_id,
            enterprise_code=env.tenant,
            form_no=event.form_no,
            license_no=event.license_no,
            serial_no=summary.serial_no if summary else None,
            year=summary.year if summary else None,
            commodity_code=summary.commodity_code if summary else None,
            commodity_name=summary.commodity_name if summary else "",
        )
    stage = "first review" if event.stage == "first" else "second review"
    await repo.add_history(
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


async def on_license_issued(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    assert isinstance(event, LicenseIssued)
    if event.quantity <= 0 or not event.quantity.is_finite():
        raise PermanentError(f"license {event.license_no}: quantity {event.quantity} must be greater than 0")
    if event.overflow_tolerance_pct is not None and not (0 <= event.overflow_tolerance_pct <= 100):
        raise PermanentError(
            f"license {event.license_no}: overflow tolerance {event.overflow_tolerance_pct}%"
        )
    repo = CustomsRepository(conn)
    tolerance, source = tolerance_for(event.commodity_code, event.overflow_tolerance_pct)
    await repo.upsert_application(
        status="license_issued",
        application_id=event.application_id,
        enterprise_code=event.enterprise_code,
        form_no=event.form_no,
        license_no=event.license_no,
        commodity_code=event.commodity_code,
        commodity_name=event.commodity_name,
    )
    created = await repo.insert_license(
        license_no=event.license_no,
        application_id=event.application_id,
        enterprise_code=event.enterprise_code,
        form_no=event.form_no,
        commodity_code=event.commodity_code,
        commodity_name=event.commodity_name,
        unit=event.unit,
        quantity=event.quantity,
        one_batch_one_license=event.one_batch_one_license,
        issued_at=event.issued_at,
        valid_until=event.valid_until,
        tolerance_pct=tolerance,
        tolerance_source=source,
    )
    if not created:
        return  # the same license announced again (another event id): nothing new to deliver
    await repo.add_history(
        application_id=event.application_id,
        enterprise_code=event.enterprise_code,
        license_no=event.license_no,
        occurred_at=event.issued_at,
        kind="license_issued",
        summary=(
            f"license {event.license_no} issued: {event.quantity} {event.unit} of {event.commodity_code}"
            f" {event.commodity_name}, valid until {event.valid_until.isoformat()},"
            f" {'one batch one license' if event.one_batch_one_license else 'up to 6 uses'},"
            f" overflow tolerance {tolerance}% ({source})"
        ),
        data={
            "quantity": event.quantity,
            "unit": event.unit,
            "valid_until": event.valid_until,
            "one_batch_one_license": event.one_batch_one_license,
            "tolerance_pct": tolerance,
            "tolerance_source": source,
        },
    )
    DELIVERY_WAKE.set()


EVENT_HANDLERS: dict[type[Event], Handler] = {
    SubmissionAccepted: on_submission_accepted,
    ReviewResultReceived: on_review_result,
    LicenseIssued: on_license_issued,
}
