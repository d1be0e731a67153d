"""What the submission and signer services' events do to an application: its status, form no.,
license no. and applied date follow MOFCOM; the form itself is never touched.

A failed submission (SigningFailed, SubmissionRejected) returns the application to ``draft`` with
the reason kept. Results only move a status forward (``STATUS_RANK``), and only for the
submission (``submission_id``) or MOFCOM form (``form_no``) the application currently carries, so
duplicates, late answers and out-of-order deliveries change nothing."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from ail_application.adapters.repository import SCHEMA
from ail_shared.consumer import Handler
from ail_shared.errors import Conflict
from ail_shared.events import (
    ApplicationRevoked,
    EkeyBound,
    Envelope,
    Event,
    LicenseIssued,
    ReviewResultReceived,
    SigningDeferred,
    SigningFailed,
    SubmissionAccepted,
    SubmissionRejected,
)
from ail_shared.lifecycle import STATUS_RANK
from ail_shared.lifecycle import ApplicationStatus as S
from ail_shared.logging import get_logger

log = get_logger("ail.application.results")

_ROW = f"SELECT id, status, form_no, submission_id FROM {SCHEMA}.applications WHERE id = $1 FOR UPDATE"


async def _set(conn: asyncpg.Connection, app_id: UUID, **fields: object) -> None:
    names = list(fields)
    sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
    await conn.execute(
        f"UPDATE {SCHEMA}.applications SET {sets}, version = version + 1, updated_at = now() WHERE id = $1",
        app_id,
        *[fields[n] for n in names],
    )


async def _back_to_draft(
    conn: asyncpg.Connection, application_id: str, submission_id: str, reason: str
) -> None:
    app_id = UUID(application_id)
    row = await conn.fetchrow(_ROW, app_id)
    if row is None or row["status"] != S.SUBMITTING or str(row["submission_id"]) != submission_id:
        return
    await _set(conn, app_id, status=S.DRAFT.value, status_reason=reason)
    log.info("back_to_draft", application_id=application_id, reason=reason)


async def on_signing_failed(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    assert isinstance(event, SigningFailed)
    await _back_to_draft(conn, event.application_id, event.submission_id, event.reason)


async def on_signing_deferred(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    """The submission waits for its e-key on a signer host: the application stays submitting and
    says why (it goes on by itself; SubmissionAccepted clears the reason)."""
    assert isinstance(event, SigningDeferred)
    app_id = UUID(event.application_id)
    row = await conn.fetchrow(_ROW, app_id)
    if row is None or row["status"] != S.SUBMITTING or str(row["submission_id"]) != event.submission_id:
        return
    await _set(conn, app_id, status_reason=f"waiting for e-key {event.ekey_serial} on a signer host")


async def on_submission_rejected(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    assert isinstance(event, SubmissionRejected)
    await _back_to_draft(conn, event.application_id, event.submission_id, event.reason)


async def on_submission_accepted(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    assert isinstance(event, SubmissionAccepted)
    app_id = UUID(event.application_id)
    row = await conn.fetchrow(_ROW, app_id)
    if row is None or row["status"] != S.SUBMITTING or str(row["submission_id"]) != event.submission_id:
        return
    await _set(
        conn,
        app_id,
        status=S.PENDING_FIRST_REVIEW.value,
        status_reason=None,
        form_no=event.form_no,
        license_no=None,
        applied_at=event.applied_at,
    )


async def _forward(
    conn: asyncpg.Connection, application_id: str, form_no: str | None, new: S, **extra: object
) -> None:
    app_id = UUID(application_id)
    row = await conn.fetchrow(_ROW, app_id)
    if row is None or (form_no is not None and row["form_no"] != form_no):
        return
    if STATUS_RANK[S(row["status"])] >= STATUS_RANK[new]:
        return
    await _set(conn, app_id, status=new.value, **extra)


async def on_review_result(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    assert isinstance(event, ReviewResultReceived)
    if event.stage == "first":
        new = S.PENDING_SECOND_REVIEW if event.result == "passed" else S.FIRST_REVIEW_REJECTED
    else:
        new = S.APPROVED if event.result == "passed" else S.SECOND_REVIEW_REJECTED
    extra: dict[str, object] = {"status_reason": event.opinion or None}
    if event.license_no:
        extra["license_no"] = event.license_no
    await _forward(conn, event.application_id, event.form_no, new, **extra)


async def on_revoked(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    assert isinstance(event, ApplicationRevoked)
    await _forward(conn, event.application_id, event.form_no, S.REVOKED, status_reason="revoked by applicant")


async def on_license_issued(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    assert isinstance(event, LicenseIssued)
    await _forward(conn, event.application_id, event.form_no, S.LICENSE_ISSUED, license_no=event.license_no)


async def on_ekey_bound(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    assert isinstance(event, EkeyBound)
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.ekey_bindings
            (enterprise_code, ekey_serial, subject, certificate_pem, bound_at)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (enterprise_code) DO UPDATE SET ekey_serial = EXCLUDED.ekey_serial,
            subject = EXCLUDED.subject, certificate_pem = EXCLUDED.certificate_pem,
            bound_at = EXCLUDED.bound_at
        WHERE {SCHEMA}.ekey_bindings.bound_at <= EXCLUDED.bound_at""",
        event.enterprise_code,
        event.ekey_serial,
        event.subject,
        event.certificate_pem,
        event.bound_at,
    )


async def ensure_ekey_bound(conn: asyncpg.Connection, enterprise_code: str) -> None:
    """Submit precondition: the enterprise has bound an e-key (POST /api/v1/ekey-bindings)."""
    bound = await conn.fetchval(
        f"SELECT 1 FROM {SCHEMA}.ekey_bindings WHERE enterprise_code = $1", enterprise_code
    )
    if not bound:
        raise Conflict(
            f"enterprise {enterprise_code} has no e-key bound: list the e-keys plugged in with "
            "GET /api/v1/ekeys, bind one with POST /api/v1/ekey-bindings, then submit again"
        )


EVENT_HANDLERS: dict[type[Event], Handler] = {
    SigningFailed: on_signing_failed,
    SigningDeferred: on_signing_deferred,
    SubmissionRejected: on_submission_rejected,
    SubmissionAccepted: on_submission_accepted,
    ReviewResultReceived: on_review_result,
    ApplicationRevoked: on_revoked,
    LicenseIssued: on_license_issued,
    EkeyBound: on_ekey_bound,
}
