"""Event handlers of the submission service. Each runs inside the consumer's transaction (with the
inbox record), changes this service's tables and writes its events to the outbox."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from ail_shared import topics
from ail_shared.canonical import canonical_json
from ail_shared.consumer import PermanentError
from ail_shared.events import (
    ApplicationSigned,
    ApplicationSubmitted,
    EkeyHeartbeat,
    Envelope,
    Event,
    LicenseIssued,
    ReviewResultReceived,
    SignatureRequested,
    SigningDeferred,
    SigningFailed,
    SubmissionAccepted,
    SubmissionRejected,
    envelope_for,
)
from ail_shared.lifecycle import ApplicationStatus as S
from ail_shared.logging import get_logger
from ail_shared.outbox import write_events
from ail_submission.adapters.repository import SCHEMA, Repository
from ail_submission.domain import ekeys, model

log = get_logger("ail.submission.handlers")


async def emit(conn: asyncpg.Connection, topic: str, event: Event, *, key: str, tenant: str) -> None:
    await write_events(
        conn, schema=SCHEMA, items=[(topic, envelope_for(event, aggregate_id=key, tenant=tenant))]
    )


DEFAULT_GRACE = timedelta(minutes=10)


async def on_heartbeat(
    conn: asyncpg.Connection, env: Envelope, event: Event, *, grace: timedelta = DEFAULT_GRACE
) -> None:
    """Record which keys the host holds; submissions waiting for one of them (or for a key this
    host now says is gone) are decided at once."""
    assert isinstance(event, EkeyHeartbeat)
    repo = Repository(conn)
    before = await repo.serials_of_host(host_id=event.host_id)
    await repo.record_heartbeat(
        host_id=event.host_id, keys=list(event.keys), sent_at=event.sent_at, ttl=event.ttl_seconds
    )
    serials = sorted(before | {k.serial for k in event.keys})
    if serials:
        await resolve_waiting(conn, now=datetime.now(UTC), grace=grace, serials=serials)


async def _fail_signing(
    repo: Repository, sub_id: UUID, app_id: UUID, enterprise: str, reason: str, detail: str, serial: str = ""
) -> None:
    await repo.update_submission(sub_id, state=model.SIGNING_FAILED, reason=reason, last_error=detail)
    await _back_to_draft(repo, app_id, sub_id, reason)
    await emit(
        repo.conn,
        topics.SIGNER,
        SigningFailed(
            application_id=str(app_id),
            submission_id=str(sub_id),
            ekey_serial=serial,
            reason=reason,
            detail=detail,
        ),
        key=str(app_id),
        tenant=enterprise,
    )


async def _back_to_draft(repo: Repository, app_id: UUID, sub_id: UUID, reason: str) -> None:
    app = await repo.application(application_id=app_id, for_update=True)
    if app is not None and app["submission_id"] == sub_id and app["status"] == S.SUBMITTING:
        await repo.update_application(app_id, status=S.DRAFT.value, status_reason=reason)


async def _request_signature(repo: Repository, sub: asyncpg.Record, serial: str, host: str) -> None:
    """Ask ``host`` to sign the submission's snapshot (again, when the first host went away: the
    request carries the same submission id, and only the first answer counts)."""
    app_id = sub["application_id"]
    payload = base64.b64encode(canonical_json(sub["snapshot"])).decode()
    await repo.update_submission(
        sub["submission_id"], state=model.SIGNING, ekey_serial=serial, signer_host=host, last_error=None
    )
    app = await repo.application(application_id=app_id, for_update=True)
    if app is not None and app["submission_id"] == sub["submission_id"] and app["status"] == S.SUBMITTING:
        await repo.update_application(app_id, status_reason=None)
    await emit(
        repo.conn,
        topics.SIGNER_REQUESTS,
        SignatureRequested(
            application_id=str(app_id),
            submission_id=str(sub["submission_id"]),
            enterprise_code=sub["enterprise_code"],
            ekey_serial=serial,
            canonical_payload=payload,
            signer_host=host,
        ),
        key=serial,
        tenant=sub["enterprise_code"],
    )


async def _wait_for_ekey(repo: Repository, sub: asyncpg.Record, serial: str, wait: ekeys.Wait) -> None:
    """The e-key is not announced right now: keep the submission (nothing goes back to draft)
    and say so, on the application and in a SigningDeferred event."""
    first = sub["state"] != model.WAITING_EKEY
    await repo.update_submission(
        sub["submission_id"],
        state=model.WAITING_EKEY,
        ekey_serial=serial,
        last_error=wait.detail,
        waiting_since=sub["waiting_since"] or datetime.now(UTC),
    )
    if not first:
        return
    app_id = sub["application_id"]
    app = await repo.application(application_id=app_id, for_update=True)
    if app is not None and app["submission_id"] == sub["submission_id"] and app["status"] == S.SUBMITTING:
        await repo.update_application(app_id, status_reason=ekeys.waiting_reason(serial))
    log.warning(
        "waiting_for_ekey", submission_id=str(sub["submission_id"]), ekey_serial=serial, detail=wait.detail
    )
    await emit(
        repo.conn,
        topics.SIGNER,
        SigningDeferred(
            application_id=str(app_id),
            submission_id=str(sub["submission_id"]),
            ekey_serial=serial,
            reason=ekeys.WAITING_FOR_EKEY,
            detail=wait.detail,
            give_up_at=wait.give_up_at,
        ),
        key=str(app_id),
        tenant=sub["enterprise_code"],
    )


async def _dispatch(
    repo: Repository, sub: asyncpg.Record, serial: str, *, now: datetime, grace: timedelta
) -> ekeys.Decision:
    decision = ekeys.decide(
        serial,
        await repo.sightings(serial=serial),
        now=now,
        waiting_since=sub["waiting_since"] or now,
        grace=grace,
    )
    if isinstance(decision, ekeys.Route):
        await _request_signature(repo, sub, serial, decision.host_id)
    elif isinstance(decision, ekeys.Wait):
        await _wait_for_ekey(repo, sub, serial, decision)
    else:
        log.info("ekey_absent", submission_id=str(sub["submission_id"]), detail=decision.detail)
        await _fail_signing(
            repo,
            sub["submission_id"],
            sub["application_id"],
            sub["enterprise_code"],
            model.EKEY_NOT_PRESENT,
            decision.detail,
            serial,
        )
    return decision


async def resolve_waiting(
    conn: asyncpg.Connection, *, now: datetime, grace: timedelta, serials: list[str] | None = None
) -> int:
    """Decide again every submission waiting for an e-key (of ``serials``, or all): send it to
    the host that announces the key now, fail it when its host said the key is gone or the
    grace period is over, or let it wait. Returns how many left the wait."""
    repo = Repository(conn)
    moved = 0
    for sub in await repo.waiting_submissions(serials=serials):
        decision = await _dispatch(repo, sub, sub["ekey_serial"], now=now, grace=grace)
        moved += not isinstance(decision, ekeys.Wait)
    return moved


async def reroute_stranded(
    conn: asyncpg.Connection, *, older_than_seconds: float, grace: timedelta = DEFAULT_GRACE
) -> int:
    """Requests sent to a host that stopped announcing the key. Another host announces it now:
    send them there (the first host, should it come back, answers a request already signed,
    and that late answer is ignored). No host does: the request stays in Kafka and its host
    answers it when it is back, unless the rule of ``domain.ekeys`` says the key is gone (a
    host said so, or none announced it for the grace period): then it fails like a wait does."""
    repo = Repository(conn)
    now, moved = datetime.now(UTC), 0
    for sub in await repo.stranded_requests(older_than_seconds=older_than_seconds):
        serial = sub["ekey_serial"]
        sightings = await repo.sightings(serial=serial)
        fresh = [s for s in sightings if s.fresh(now) and s.host_id != sub["signer_host"]]
        if fresh:
            host = max(fresh, key=lambda s: s.last_seen).host_id
            log.info("signature_rerouted", submission_id=str(sub["submission_id"]), host=host)
            await _request_signature(repo, sub, serial, host)
            moved += 1
            continue
        decision = ekeys.decide(serial, sightings, now=now, waiting_since=sub["updated_at"], grace=grace)
        if isinstance(decision, ekeys.Absent):
            log.info("ekey_absent", submission_id=str(sub["submission_id"]), detail=decision.detail)
            await _fail_signing(
                repo,
                sub["submission_id"],
                sub["application_id"],
                sub["enterprise_code"],
                model.EKEY_NOT_PRESENT,
                decision.detail,
                serial,
            )
            moved += 1
    return moved


async def on_application_submitted(
    conn: asyncpg.Connection, env: Envelope, event: Event, *, grace: timedelta = DEFAULT_GRACE
) -> None:
    """Ask the signer host that holds the enterprise's e-key for a signature; wait (visibly)
    while no host announces it, fail fast only as ``domain.ekeys`` says."""
    assert isinstance(event, ApplicationSubmitted)
    missing = [k for k in ("commodity_code", "goods") if not event.snapshot.get(k)]
    if missing:
        # The application service only sends validated forms: this one can never be signed.
        raise PermanentError(f"ApplicationSubmitted snapshot lacks {', '.join(missing)}; nothing to sign")
    repo = Repository(conn)
    sub_id, app_id = UUID(event.submission_id), UUID(event.application_id)
    if not await repo.add_submission(
        submission_id=sub_id,
        application_id=app_id,
        enterprise_code=event.enterprise_code,
        serial_no=event.serial_no,
        snapshot=event.snapshot,
        state=model.SIGNING,
    ):
        return
    await repo.upsert_application(
        application_id=app_id,
        enterprise_code=event.enterprise_code,
        submission_id=sub_id,
        status=S.SUBMITTING.value,
    )
    binding = await repo.binding(enterprise_code=event.enterprise_code)
    if binding is None:
        await _fail_signing(
            repo,
            sub_id,
            app_id,
            event.enterprise_code,
            model.EKEY_NOT_BOUND,
            f"enterprise {event.enterprise_code} has no e-key bound: "
            "bind one with POST /api/v1/ekey-bindings",
        )
        return
    sub = await repo.submission(submission_id=sub_id, for_update=True)
    assert sub is not None
    await _dispatch(repo, sub, binding["ekey_serial"], now=datetime.now(UTC), grace=grace)


async def on_signed(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    assert isinstance(event, ApplicationSigned)
    repo = Repository(conn)
    sub = await repo.submission(submission_id=UUID(event.submission_id), for_update=True)
    if sub is None or sub["state"] != model.SIGNING:
        return  # a late or repeated answer
    await repo.update_submission(
        sub["submission_id"],
        state=model.SIGNED,
        signature=event.signature,
        algorithm=event.algorithm,
        certificate_pem=event.certificate_pem,
        next_attempt_at=datetime.now(UTC),
    )


async def on_signing_failed(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    assert isinstance(event, SigningFailed)
    repo = Repository(conn)
    sub = await repo.submission(submission_id=UUID(event.submission_id), for_update=True)
    if sub is None or sub["state"] != model.SIGNING:
        return  # our own fail-fast event coming back, or a late answer
    await repo.update_submission(
        sub["submission_id"], state=model.SIGNING_FAILED, reason=event.reason, last_error=event.detail
    )
    await _back_to_draft(repo, sub["application_id"], sub["submission_id"], event.reason)


# ---------------------------------------------------------------- MOFCOM's answers


async def record_accepted(
    conn: asyncpg.Connection, sub: asyncpg.Record, form_no: str, applied_at: datetime
) -> None:
    repo = Repository(conn)
    current = await repo.submission(submission_id=sub["submission_id"], for_update=True)
    if current is None or current["state"] != model.SIGNED:
        return
    await repo.update_submission(
        sub["submission_id"], state=model.ACCEPTED, form_no=form_no, applied_at=applied_at, lease_until=None
    )
    app = await repo.application(application_id=sub["application_id"], for_update=True)
    if app is not None and app["submission_id"] == sub["submission_id"]:
        await repo.update_application(
            sub["application_id"],
            status=S.PENDING_FIRST_REVIEW.value,
            status_reason=None,
            form_no=form_no,
            license_no=None,
            applied_at=applied_at,
        )
    await emit(
        conn,
        topics.SUBMISSION,
        SubmissionAccepted(
            application_id=str(sub["application_id"]),
            submission_id=str(sub["submission_id"]),
            form_no=form_no,
            applied_at=applied_at,
        ),
        key=str(sub["application_id"]),
        tenant=sub["enterprise_code"],
    )


async def record_rejected(conn: asyncpg.Connection, sub: asyncpg.Record, reason: str, detail: str) -> None:
    repo = Repository(conn)
    current = await repo.submission(submission_id=sub["submission_id"], for_update=True)
    if current is None or current["state"] != model.SIGNED:
        return
    await repo.update_submission(
        sub["submission_id"], state=model.REJECTED, reason=reason, last_error=detail, lease_until=None
    )
    await _back_to_draft(repo, sub["application_id"], sub["submission_id"], reason)
    await emit(
        conn,
        topics.SUBMISSION,
        SubmissionRejected(
            application_id=str(sub["application_id"]),
            submission_id=str(sub["submission_id"]),
            reason=reason,
            detail=detail,
        ),
        key=str(sub["application_id"]),
        tenant=sub["enterprise_code"],
    )


async def receive_review_result(
    conn: asyncpg.Connection,
    *,
    submission_id: UUID,
    application_id: UUID,
    form_no: str,
    stage: str,
    result: str,
    opinion: str,
    license_no: str | None,
    reviewed_at: datetime,
) -> model.CallbackRefusal | str:
    """A result MOFCOM pushed (its signature already checked): applied only when it fits the
    submission it names (``model.callback_refusal``); otherwise the refusal, nothing applied."""
    repo = Repository(conn)
    sub = await repo.submission(submission_id=submission_id, for_update=True)
    refusal = model.callback_refusal(
        sub=None if sub is None else dict(sub),
        application_id=application_id,
        form_no=form_no,
        stage=stage,
        result=result,
        license_no=license_no,
        recorded=await repo.review_results(form_no=form_no),
    )
    if refusal is not None:
        return refusal
    return await apply_review_result(
        conn,
        form_no=form_no,
        stage=stage,
        result=result,
        opinion=opinion,
        license_no=license_no,
        reviewed_at=reviewed_at,
    )


async def apply_review_result(
    conn: asyncpg.Connection,
    *,
    form_no: str,
    stage: str,
    result: str,
    opinion: str,
    license_no: str | None,
    reviewed_at: datetime,
) -> str:
    """One MOFCOM review result, at most once per (form no., stage). Returns 'applied',
    'duplicate' or 'unknown_form' (MOFCOM answered before we recorded its form no.: retry)."""
    repo = Repository(conn)
    sub = await repo.submission_by_form(form_no=form_no)
    if sub is None:
        return "unknown_form"
    if not await repo.add_review_result(
        form_no=form_no,
        stage=stage,
        result=result,
        opinion=opinion,
        license_no=license_no,
        reviewed_at=reviewed_at,
    ):
        return "duplicate"
    app_id, enterprise = sub["application_id"], sub["enterprise_code"]
    summary = model.summary(sub["snapshot"])
    app = await repo.application(application_id=app_id, for_update=True)
    current_form = app is not None and app["form_no"] == form_no
    events: list[Event] = [
        ReviewResultReceived(
            application_id=str(app_id),
            form_no=form_no,
            stage=stage,
            result=result,
            opinion=opinion,
            license_no=license_no,
            reviewed_at=reviewed_at,
            application=summary,
        )
    ]
    new_status = model.status_after_review(stage, result)
    if new_status == S.APPROVED and license_no:
        issued = datetime.now(UTC)
        events.append(
            LicenseIssued(
                application_id=str(app_id),
                enterprise_code=enterprise,
                form_no=form_no,
                license_no=license_no,
                issued_at=issued,
                valid_until=model.valid_until(issued.date()),
                commodity_code=summary.commodity_code,
                commodity_name=summary.commodity_name,
                unit=summary.unit,
                quantity=summary.total_quantity,
                one_batch_one_license=summary.one_batch_one_license,
            )
        )
        new_status = S.LICENSE_ISSUED
    if app is not None and current_form and model.moves_forward(app["status"], new_status):
        await repo.update_application(
            app_id, status=new_status.value, license_no=license_no or app["license_no"], status_reason=opinion
        )
    items = [
        (topics.SUBMISSION, envelope_for(e, aggregate_id=str(app_id), tenant=enterprise)) for e in events
    ]
    await write_events(conn, schema=SCHEMA, items=items)
    log.info("review_result", form_no=form_no, stage=stage, result=result, status=new_status.value)
    return "applied"
