"""The submission service's use cases: ``COMMAND_HANDLERS`` (what the HTTP API and the workers
ask) and ``EVENT_HANDLERS`` (what the consumers apply), keyed by type.

Every handler takes the service's unit of work first; its other dependencies are keyword
arguments that ``bootstrap`` injects by name (``mofcom``, ``applications``, ``clock``, ``grace``,
``send_policy``, ``wake_sender``) and that tests pass as fakes. The aggregates decide and record
their events; the unit of work writes state and events in one transaction. An event handler runs
on the consumer's transaction (with the inbox record). MOFCOM is reached only through the
``Mofcom`` Protocol passed in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from ail_shared import topics
from ail_shared.consumer import PermanentError
from ail_shared.errors import Conflict, FieldProblem, InvalidInput, NotFound
from ail_shared.events import (
    ApplicationSigned,
    ApplicationSubmitted,
    EkeyBound,
    EkeyHeartbeat,
    EkeyUnbound,
    Envelope,
    Event,
    SigningFailed,
)
from ail_shared.lifecycle import Action, allows
from ail_shared.logging import get_logger
from ail_shared.retry import backoff, now_utc
from ail_shared.telemetry import continue_trace
from ail_submission.adapters.applications import ApplicationService, ApplicationServiceUnavailable
from ail_submission.adapters.mofcom import (
    Accepted,
    AttachmentFile,
    Mofcom,
    MofcomRefused,
    MofcomUnavailable,
    Refused,
    Unavailable,
)
from ail_submission.domain import ekeys
from ail_submission.domain.certificates import enterprise_codes_of, subject_of
from ail_submission.domain.commands import (
    BindEkey,
    BindEkeyByCertificate,
    ClaimDueSubmissions,
    CloseSubmission,
    ReceiveLicenseCancellation,
    ReceiveReviewResult,
    RefreshApprovalStatus,
    RerouteStrandedRequests,
    ResendSubmission,
    ResolveWaitingSubmissions,
    Result,
    RevokeApplication,
    SendSubmission,
    Stage,
    UnbindEkey,
)
from ail_submission.domain.ekeys import Binding, Unbinding
from ail_submission.domain.model import (
    EKEY_NOT_BOUND,
    SIGNED,
    SIGNING,
    ApplicationView,
    CallbackRefusal,
    Submission,
    callback_refusal,
    delayed_reason,
)
from ail_submission.service_layer.unit_of_work import UnitOfWork

log = get_logger("ail.submission.handlers")

Clock = Callable[[], datetime]
DEFAULT_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class SendPolicy:
    """How often the sender tries MOFCOM before the submission is parked for operations (resend
    or close, ``/api/v1/ops/submissions``), and how long it waits between rounds
    (``ail_shared.retry.backoff``)."""

    max_attempts: int = 40
    base_seconds: float = 0.5
    max_backoff: float = 20.0

    def delay(self, attempts: int) -> float:
        return backoff(max(attempts, 1), base=self.base_seconds, cap=self.max_backoff)


@dataclass(frozen=True)
class ApprovalStatus:
    """What a refresh shows: the application as this service knows it now, and MOFCOM's answer."""

    view: ApplicationView
    mofcom: dict[str, Any] | None


# ---------------------------------------------------------------- e-keys and signing


async def _dispatch(
    uow: UnitOfWork, sub: Submission, serial: str, *, now: datetime, grace: timedelta
) -> ekeys.Decision:
    """Send the submission to the host holding ``serial``, let it wait, or fail it (``ekeys.decide``)."""
    decision = ekeys.decide(
        serial,
        await uow.ekeys.sightings(serial=serial),
        now=now,
        waiting_since=sub.waiting_since or now,
        grace=grace,
    )
    await _apply_decision(uow, sub, serial, decision, now=now)
    return decision


async def _apply_decision(
    uow: UnitOfWork, sub: Submission, serial: str, decision: ekeys.Decision, *, now: datetime
) -> None:
    began_waiting = sub.dispatch(serial, decision, now=now)
    await uow.submissions.save(sub)
    view = await uow.applications.get(application_id=sub.application_id, for_update=True)
    if view is not None and view.dispatched(sub, decision, began_waiting=began_waiting):
        await uow.applications.save(view)
    if began_waiting:
        log.warning(
            "waiting_for_ekey",
            submission_id=str(sub.submission_id),
            ekey_serial=serial,
            detail=sub.last_error,
        )
    elif isinstance(decision, ekeys.Absent):
        log.info("ekey_absent", submission_id=str(sub.submission_id), detail=decision.detail)
    uow.track(sub)


async def _resolve_waiting(
    uow: UnitOfWork, *, serials: list[str] | None, now: datetime, grace: timedelta
) -> int:
    moved = 0
    for sub in await uow.submissions.waiting(serials=serials):
        decision = await _dispatch(uow, sub, sub.ekey_serial or "", now=now, grace=grace)
        moved += not isinstance(decision, ekeys.Wait)
    return moved


async def on_heartbeat(
    uow: UnitOfWork,
    event: EkeyHeartbeat,
    env: Envelope,
    *,
    grace: timedelta = DEFAULT_GRACE,
    clock: Clock = now_utc,
) -> None:
    """Record which keys the host holds; submissions waiting for one of them (or for a key this
    host now says is gone) are decided at once."""
    async with uow:
        before = await uow.ekeys.serials_of_host(host_id=event.host_id)
        await uow.ekeys.record_heartbeat(
            host_id=event.host_id, keys=list(event.keys), sent_at=event.sent_at, ttl=event.ttl_seconds
        )
        serials = sorted(before | {k.serial for k in event.keys})
        if serials:
            await _resolve_waiting(uow, serials=serials, now=clock(), grace=grace)


async def on_application_submitted(
    uow: UnitOfWork,
    event: ApplicationSubmitted,
    env: Envelope,
    *,
    grace: timedelta = DEFAULT_GRACE,
    clock: Clock = now_utc,
) -> None:
    """Ask the signer host that holds the enterprise's e-key for a signature; wait (visibly)
    while no host announces it, fail fast only as ``domain.ekeys`` says."""
    missing = [k for k in ("commodity_code", "goods") if not event.snapshot.get(k)]
    if missing:
        # The application service only sends validated forms: this one can never be signed.
        raise PermanentError(f"ApplicationSubmitted snapshot lacks {', '.join(missing)}; nothing to sign")
    sub = Submission(
        submission_id=UUID(event.submission_id),
        application_id=UUID(event.application_id),
        enterprise_code=event.enterprise_code,
        serial_no=event.serial_no,
        snapshot=event.snapshot,
    )
    async with uow:
        if not await uow.submissions.add(sub):
            return  # a repeated event
        view = await uow.applications.get(application_id=sub.application_id, for_update=True)
        if view is None:
            view = ApplicationView.submitted(sub)
        else:
            view.resubmitted(sub)
        await uow.applications.save(view)
        binding = await uow.ekeys.binding(enterprise_code=sub.enterprise_code)
        if binding is None:
            sub.fail_signing(
                EKEY_NOT_BOUND,
                f"enterprise {sub.enterprise_code} has no e-key bound: "
                "bind one with POST /api/v1/ekey-bindings",
            )
            await uow.submissions.save(sub)
            if view.back_to_draft(sub, EKEY_NOT_BOUND):
                await uow.applications.save(view)
            uow.track(sub)
            return
        await _dispatch(uow, sub, binding.ekey_serial, now=clock(), grace=grace)


async def on_signed(
    uow: UnitOfWork,
    event: ApplicationSigned,
    env: Envelope,
    *,
    clock: Clock = now_utc,
    wake_sender: Callable[[], None] | None = None,
) -> None:
    """The signer's signature: the submission is due to be sent to MOFCOM now."""
    async with uow:
        sub = await uow.submissions.get(submission_id=UUID(event.submission_id), for_update=True)
        if sub is None or not sub.signed(
            signature=event.signature,
            algorithm=event.algorithm,
            certificate_pem=event.certificate_pem,
            now=clock(),
        ):
            return  # a late or repeated answer
        await uow.submissions.save(sub)
    if wake_sender is not None:
        wake_sender()


async def on_signing_failed(uow: UnitOfWork, event: SigningFailed, env: Envelope) -> None:
    """The signer could not sign: the submission is over, the application back to draft."""
    async with uow:
        sub = await uow.submissions.get(submission_id=UUID(event.submission_id), for_update=True)
        if sub is None or sub.state != SIGNING:
            return  # our own fail-fast event coming back, or a late answer
        sub.fail_signing(event.reason, event.detail, announce=False)
        await uow.submissions.save(sub)
        view = await uow.applications.get(application_id=sub.application_id, for_update=True)
        if view is not None and view.back_to_draft(sub, event.reason):
            await uow.applications.save(view)


async def resolve_waiting(
    uow: UnitOfWork,
    cmd: ResolveWaitingSubmissions,
    *,
    grace: timedelta = DEFAULT_GRACE,
    clock: Clock = now_utc,
) -> int:
    """Decide again every submission waiting for an e-key (of ``cmd.serials``, or all): send it
    to the host that announces the key now, fail it when its host said the key is gone or the
    grace period is over, or let it wait. Returns how many left the wait."""
    async with uow:
        serials = None if cmd.serials is None else list(cmd.serials)
        return await _resolve_waiting(uow, serials=serials, now=clock(), grace=grace)


async def reroute_stranded(
    uow: UnitOfWork,
    cmd: RerouteStrandedRequests,
    *,
    grace: timedelta = DEFAULT_GRACE,
    clock: Clock = now_utc,
) -> int:
    """Signature requests sent to a host that stopped announcing the key (``ekeys.reroute``):
    sent to another host that announces it, or failed once the key is gone. Returns how many moved."""
    async with uow:
        now, moved = clock(), 0
        for sub in await uow.submissions.stranded(older_than_seconds=cmd.older_than_seconds):
            serial = sub.ekey_serial or ""
            decision = ekeys.reroute(
                serial,
                await uow.ekeys.sightings(serial=serial),
                now=now,
                current_host=sub.signer_host,
                requested_at=sub.updated_at or now,
                grace=grace,
            )
            if decision is None:
                continue
            if isinstance(decision, ekeys.Route):
                log.info("signature_rerouted", submission_id=str(sub.submission_id), host=decision.host_id)
            await _apply_decision(uow, sub, serial, decision, now=now)
            moved += 1
        return moved


# ---------------------------------------------------------------- bindings


async def _register(
    mofcom: Mofcom, *, enterprise_code: str, ekey_serial: str, certificate_pem: str
) -> Refused | None:
    """Register the certificate with MOFCOM (it verifies every later signature against it)."""
    registered = await mofcom.register_certificate(
        enterprise_code=enterprise_code, ekey_serial=ekey_serial, certificate_pem=certificate_pem
    )
    if isinstance(registered, Unavailable):
        raise MofcomUnavailable(f"MOFCOM did not answer ({registered.error}); try the binding again")
    return registered if isinstance(registered, Refused) else None


async def _bind(
    uow: UnitOfWork, *, enterprise_code: str, serial: str, certificate_pem: str, subject: str, bound_by: str
) -> Binding:
    binding = await uow.ekeys.bind(
        enterprise_code=enterprise_code,
        ekey_serial=serial,
        subject=subject,
        certificate_pem=certificate_pem,
        bound_by=bound_by,
    )
    uow.emit(
        topics.SUBMISSION,
        EkeyBound(
            enterprise_code=binding.enterprise_code,
            ekey_serial=binding.ekey_serial,
            certificate_pem=binding.certificate_pem,
            subject=binding.subject,
            bound_at=binding.bound_at,
            bound_by=binding.bound_by,
        ),
        aggregate_id=enterprise_code,
        tenant=enterprise_code,
    )
    return binding


async def bind_ekey(uow: UnitOfWork, cmd: BindEkey, *, mofcom: Mofcom) -> Binding:
    """Bind one of the enterprise's present e-keys; its certificate is registered with MOFCOM."""
    async with uow:
        present = [
            k
            for k in await uow.ekeys.present(enterprise_codes=(cmd.enterprise_code,))
            if k.serial == cmd.ekey_serial
        ]
        if not present:
            raise InvalidInput(
                "e-key not present",
                [
                    FieldProblem(
                        "ekey_serial",
                        f"no e-key {cmd.ekey_serial} of enterprise {cmd.enterprise_code} is plugged into a "
                        "signer host right now; plug it in and list GET /api/v1/ekeys",
                    )
                ],
            )
        key = present[0]
        refused = await _register(
            mofcom,
            enterprise_code=cmd.enterprise_code,
            ekey_serial=key.serial,
            certificate_pem=key.certificate_pem,
        )
        if refused is not None:
            raise InvalidInput(
                "MOFCOM refused the certificate",
                [FieldProblem("ekey_serial", f"{refused.reason}: {refused.detail}")],
            )
        return await _bind(
            uow,
            enterprise_code=cmd.enterprise_code,
            serial=key.serial,
            certificate_pem=key.certificate_pem,
            subject=key.subject,
            bound_by=cmd.bound_by,
        )


async def unbind_ekey(uow: UnitOfWork, cmd: UnbindEkey, *, mofcom: Mofcom) -> Unbinding:
    """Withdraw the binding of an e-key to one of the caller's enterprises: MOFCOM withdraws the
    certificate first (if it does not answer: 503, nothing changed, try again), then the binding
    is removed, its withdrawal recorded and EkeyUnbound announced, in one transaction. Refused
    (409) while submissions signed with the key are on their way: MOFCOM would refuse them.
    Another enterprise's binding is a 404; a repeated request answers the recorded withdrawal."""
    async with uow:
        binding = await uow.ekeys.binding_of(
            enterprise_codes=cmd.enterprise_codes, ekey_serial=cmd.ekey_serial, for_update=True
        )
        if binding is None:
            done = await uow.ekeys.last_unbinding(
                enterprise_codes=cmd.enterprise_codes, ekey_serial=cmd.ekey_serial
            )
            if done is None:
                raise NotFound(
                    f"no binding of e-key {cmd.ekey_serial}: list them with GET /api/v1/ekey-bindings"
                )
            return done
        waiting = await uow.submissions.in_flight(
            enterprise_code=binding.enterprise_code, ekey_serial=binding.ekey_serial
        )
        if waiting:
            raise Conflict(
                f"{waiting} submission(s) signed with e-key {binding.ekey_serial} are on their way to "
                "MOFCOM, which checks their signature against this key's certificate: unbind once they "
                "are answered (their status is no longer 上报中 / submitting)"
            )
        withdrawn = await mofcom.withdraw_certificate(
            enterprise_code=binding.enterprise_code, ekey_serial=binding.ekey_serial
        )
        if isinstance(withdrawn, Unavailable):
            raise MofcomUnavailable(
                f"MOFCOM did not answer ({withdrawn.error}); the e-key is still bound: try again"
            )
        if isinstance(withdrawn, Refused):
            raise MofcomRefused(
                f"MOFCOM refused to withdraw the certificate ({withdrawn.reason}: {withdrawn.detail})"
            )
        record = await uow.ekeys.unbind(binding=binding, unbound_by=cmd.unbound_by)
        uow.emit(
            topics.SUBMISSION,
            EkeyUnbound(
                enterprise_code=record.enterprise_code,
                ekey_serial=record.ekey_serial,
                bound_at=record.bound_at,
                unbound_at=record.unbound_at,
                unbound_by=record.unbound_by,
            ),
            aggregate_id=record.enterprise_code,
            tenant=record.enterprise_code,
        )
        log.info("ekey_unbound", enterprise_code=record.enterprise_code, ekey_serial=record.ekey_serial)
        return record


async def bind_ekey_by_certificate(uow: UnitOfWork, cmd: BindEkeyByCertificate, *, mofcom: Mofcom) -> Binding:
    """Operations and demo data: bind an e-key by its certificate, whether or not a signer host
    holds it right now. Submissions still need a host holding it."""
    if cmd.enterprise_code not in enterprise_codes_of(cmd.certificate_pem):
        raise InvalidInput(
            "certificate does not name the enterprise",
            [
                FieldProblem(
                    "certificate_pem", f"its subject names no O= / serialNumber= {cmd.enterprise_code}"
                )
            ],
        )
    async with uow:
        refused = await _register(
            mofcom,
            enterprise_code=cmd.enterprise_code,
            ekey_serial=cmd.ekey_serial,
            certificate_pem=cmd.certificate_pem,
        )
        if refused is not None:
            raise InvalidInput(
                "MOFCOM refused the certificate", [FieldProblem("certificate_pem", refused.detail)]
            )
        return await _bind(
            uow,
            enterprise_code=cmd.enterprise_code,
            serial=cmd.ekey_serial,
            certificate_pem=cmd.certificate_pem,
            subject=subject_of(cmd.certificate_pem),
            bound_by=cmd.bound_by,
        )


# ---------------------------------------------------------------- the applicant's requests


async def revoke(
    uow: UnitOfWork,
    cmd: RevokeApplication,
    *,
    mofcom: Mofcom,
    applications: ApplicationService,
    clock: Clock = now_utc,
) -> ApplicationView:
    """Withdraw an application at MOFCOM; allowed only where the lifecycle allows a revoke
    (pending first review): 409 otherwise, naming the status."""
    async with uow:
        view = await uow.applications.get(
            application_id=cmd.application_id, enterprise_codes=cmd.enterprise_codes, for_update=True
        )
        if view is None:
            status = await applications.status(application_id=cmd.application_id, credentials=cmd.credentials)
            where = (
                "it has never been sent to MOFCOM"
                if allows(status, Action.REVOKE)
                else ("revoke is allowed only from pending_first_review")
            )
            raise Conflict(f"application {cmd.application_id} is {status}: {where}")
        view.check_revocable()
        answer = await mofcom.revoke(form_no=view.form_no or "", reason=cmd.reason)
        if isinstance(answer, Unavailable):
            raise MofcomUnavailable(f"MOFCOM did not answer ({answer.error}); try the revoke again")
        if isinstance(answer, Refused):
            mofcom_status = answer.body.get("error", {}).get("status", "")
            raise Conflict(
                f"MOFCOM refused the revoke of {cmd.application_id} "
                f"({mofcom_status or answer.reason}): {answer.detail}"
            )
        revoked_at = datetime.fromisoformat(answer["revoked_at"]) if answer.get("revoked_at") else clock()
        view.revoke(revoked_at=revoked_at, reason=cmd.reason)
        await uow.applications.save(view)
        uow.track(view)
    return view


async def refresh_approval_status(
    uow: UnitOfWork,
    cmd: RefreshApprovalStatus,
    *,
    mofcom: Mofcom,
    applications: ApplicationService,
    clock: Clock = now_utc,
) -> ApprovalStatus:
    """Ask MOFCOM now (any status but draft) and apply each review result it reports."""
    async with uow:
        view = await uow.applications.get(
            application_id=cmd.application_id, enterprise_codes=cmd.enterprise_codes
        )
    if view is None:
        status = await applications.status(application_id=cmd.application_id, credentials=cmd.credentials)
        raise Conflict(f"application {cmd.application_id} is {status}: it has never been sent to MOFCOM")
    if not allows(view.status, Action.QUERY_APPROVAL):
        raise Conflict(
            f"application {cmd.application_id} is {view.status}: "
            "approval status is known only after submission"
        )
    body: dict[str, Any] | None = None
    if view.form_no:
        answer = await mofcom.status(form_no=view.form_no)
        if isinstance(answer, Unavailable):
            raise MofcomUnavailable(f"MOFCOM did not answer ({answer.error}); try again")
        if isinstance(answer, Refused):
            raise MofcomRefused(f"MOFCOM refused the status query: {answer.reason} {answer.detail}")
        body = answer
        for r in answer.get("results", []):
            async with uow:  # one transaction per result, as MOFCOM's callbacks are
                await _apply_review_result(
                    uow,
                    form_no=r["form_no"],
                    stage=r["stage"],
                    result=r["result"],
                    opinion=r.get("opinion", ""),
                    license_no=r.get("license_no"),
                    reviewed_at=datetime.fromisoformat(r["reviewed_at"]),
                    now=clock(),
                )
    async with uow:
        current = await uow.applications.get(application_id=cmd.application_id)
    return ApprovalStatus(current or view, body)


# ---------------------------------------------------------------- MOFCOM's review results


async def receive_review_result(
    uow: UnitOfWork, cmd: ReceiveReviewResult, *, clock: Clock = now_utc
) -> CallbackRefusal | str:
    """A result MOFCOM pushed (its signature already checked): applied only when it fits the
    submission it names (``model.callback_refusal``); otherwise the refusal, nothing applied.
    Returns 'applied', 'duplicate', 'unknown_form' or the refusal."""
    # MOFCOM's callback is a request of its own: what it causes (the license, Customs) is still
    # this submission's trace (the callback's server span is linked). The span is open before
    # the unit of work, which writes the events (with the current trace context) at its commit.
    async with uow:
        known = await uow.submissions.get(submission_id=cmd.submission_id)
    with continue_trace(
        known.trace_context if known else None,
        "MOFCOM review result",
        attributes={"ail.submission_id": str(cmd.submission_id), "ail.form_no": cmd.form_no},
    ):
        async with uow:
            sub = await uow.submissions.get(submission_id=cmd.submission_id, for_update=True)
            refusal = callback_refusal(
                sub=sub,
                application_id=cmd.application_id,
                form_no=cmd.form_no,
                stage=cmd.stage,
                result=cmd.result,
                license_no=cmd.license_no,
                recorded=await uow.review_results.recorded(form_no=cmd.form_no),
            )
            if refusal is not None:
                return refusal
            return await _apply_review_result(
                uow,
                form_no=cmd.form_no,
                stage=cmd.stage,
                result=cmd.result,
                opinion=cmd.opinion,
                license_no=cmd.license_no,
                reviewed_at=cmd.reviewed_at,
                now=clock(),
            )


async def _apply_review_result(
    uow: UnitOfWork,
    *,
    form_no: str,
    stage: Stage,
    result: Result,
    opinion: str,
    license_no: str | None,
    reviewed_at: datetime,
    now: datetime,
) -> str:
    """One MOFCOM review result, at most once per (form no., stage). Returns 'applied',
    'duplicate' or 'unknown_form' (MOFCOM answered before we recorded its form no.: retry)."""
    sub = await uow.submissions.by_form(form_no=form_no)
    if sub is None:
        return "unknown_form"
    if not await uow.review_results.add(
        form_no=form_no,
        stage=stage,
        result=result,
        opinion=opinion,
        license_no=license_no,
        reviewed_at=reviewed_at,
    ):
        return "duplicate"
    view = await uow.applications.get(application_id=sub.application_id, for_update=True)
    status = sub.review(
        stage=stage, result=result, opinion=opinion, license_no=license_no, reviewed_at=reviewed_at, now=now
    )
    if view is not None and view.reviewed(
        form_no=form_no, status=status, license_no=license_no, opinion=opinion
    ):
        await uow.applications.save(view)
    uow.track(sub)
    log.info("review_result", form_no=form_no, stage=stage, result=result, status=status.value)
    return "applied"


async def receive_license_cancellation(uow: UnitOfWork, cmd: ReceiveLicenseCancellation) -> str:
    """MOFCOM cancelled a license: 'applied' (``LicenseCancellationReceived`` on ail.submission)
    or 'unknown_license' when it names no license we were issued for that form and application."""
    async with uow:
        sub = await uow.submissions.by_form(form_no=cmd.form_no)
        view = await uow.applications.get(application_id=sub.application_id) if sub is not None else None
        if (
            sub is None
            or view is None
            or sub.application_id != cmd.application_id
            or view.license_no != cmd.license_no
        ):
            return "unknown_license"
        sub.license_cancelled(license_no=cmd.license_no, reason=cmd.reason, cancelled_at=cmd.cancelled_at)
        uow.track(sub)
    log.info("license_cancelled_by_mofcom", license_no=cmd.license_no, form_no=cmd.form_no)
    return "applied"


# ---------------------------------------------------------------- the sender


async def claim_due(uow: UnitOfWork, cmd: ClaimDueSubmissions) -> list[UUID] | list[Submission]:
    """Lease the signed submissions due to be sent (their attempt is counted); their ids, or
    the submissions themselves with ``cmd.rows``."""
    async with uow:
        claimed = await uow.submissions.claim_due(limit=cmd.limit, lease_seconds=cmd.lease_seconds)
    return claimed if cmd.rows else [s.submission_id for s in claimed]


async def send_submission(
    uow: UnitOfWork,
    cmd: SendSubmission,
    *,
    mofcom: Mofcom,
    send_policy: SendPolicy = SendPolicy(),
    clock: Clock = now_utc,
    applications: ApplicationService | None = None,
) -> str:
    """Send one claimed submission to MOFCOM, outside any transaction (with the submission id
    as its idempotency key, so a retry after a time-out gets the same form no. back), then
    record the answer with its event. Returns 'accepted', 'rejected', 'retry', 'parked' or 'skipped'.
    The attachments the signed snapshot names go with it (their bytes from the application
    service, checked against the signed sha256 first)."""
    sub = cmd.claimed
    if sub is None:
        async with uow:
            sub = await uow.submissions.get(submission_id=cmd.submission_id)
    if sub is None or sub.state != SIGNED:
        return "skipped"
    # The send runs in the sender's task, long after the submit: it continues the trace the
    # submission was created in, so the MOFCOM call (httpx span, traceparent) is part of it.
    with continue_trace(
        sub.trace_context,
        "send to MOFCOM",
        attributes={"ail.submission_id": str(sub.submission_id), "ail.attempt": sub.attempts},
    ):
        return await _send(
            uow, cmd, sub, mofcom=mofcom, send_policy=send_policy, clock=clock, applications=applications
        )


async def _send(
    uow: UnitOfWork,
    cmd: SendSubmission,
    sub: Submission,
    *,
    mofcom: Mofcom,
    send_policy: SendPolicy,
    clock: Clock,
    applications: ApplicationService | None,
) -> str:
    files = await _attachment_files(sub, applications)
    if isinstance(files, list):
        outcome: Accepted | Refused | Unavailable = await mofcom.submit(
            idempotency_key=str(sub.submission_id),
            application_id=str(sub.application_id),
            enterprise_code=sub.enterprise_code,
            ekey_serial=sub.ekey_serial or "",
            payload_b64=sub.payload_b64(),
            signature=sub.signature or "",
            algorithm=sub.algorithm or "",
            attachments=files,
        )
    else:
        outcome = files
    try:
        async with uow:
            return await _record_answer(uow, cmd.submission_id, outcome, policy=send_policy, now=clock())
    except Exception as exc:  # noqa: BLE001 - the lease expires and the row is sent again
        log.error("sender_record_failed", submission_id=str(cmd.submission_id), error=repr(exc))
        async with uow:
            await uow.submissions.note_error(
                submission_id=cmd.submission_id, error=f"recording MOFCOM's answer failed: {exc!r}"
            )
        return "retry"


ATTACHMENT_CHANGED = "attachment_changed"


async def _attachment_files(
    sub: Submission, applications: ApplicationService | None
) -> list[AttachmentFile] | Refused | Unavailable:
    """The bytes of every attachment the signed snapshot names. The application service not
    answering is an outage (tried again later, like MOFCOM's); bytes that are gone or do not
    match the signed sha256 end the submission (what was signed cannot be sent)."""
    named = [a for a in sub.snapshot.get("attachments") or [] if isinstance(a, dict)]
    if not named:
        return []
    if applications is None:
        return Unavailable("no application service to read the attachments from")
    files = []
    for a in named:
        try:
            content = await applications.attachment(
                application_id=sub.application_id,
                attachment_id=str(a.get("id")),
                enterprise_code=sub.enterprise_code,
            )
        except ApplicationServiceUnavailable as exc:
            return Unavailable(exc.message)
        except NotFound:
            return Refused(ATTACHMENT_CHANGED, f"attachment {a.get('filename')} is gone; submit again")
        if hashlib.sha256(content).hexdigest() != a.get("sha256"):
            return Refused(
                ATTACHMENT_CHANGED,
                f"attachment {a.get('filename')} is not the file that was signed; submit again",
            )
        files.append(
            AttachmentFile(
                id=str(a.get("id")),
                filename=str(a.get("filename") or ""),
                content_type=str(a.get("content_type") or "application/octet-stream"),
                sha256=str(a.get("sha256")),
                content=content,
            )
        )
    return files


async def _record_answer(
    uow: UnitOfWork,
    submission_id: UUID,
    outcome: Accepted | Refused | Unavailable,
    *,
    policy: SendPolicy,
    now: datetime,
) -> str:
    sub = await uow.submissions.get(submission_id=submission_id, for_update=True)
    if sub is None or sub.state != SIGNED:
        return "skipped"  # answered already (a lease that expired while MOFCOM was slow)
    if isinstance(outcome, Accepted):
        sub.accept(form_no=outcome.form_no, applied_at=outcome.applied_at)
        word = "accepted"
    elif isinstance(outcome, Refused):
        log.info("mofcom_refused", submission_id=str(submission_id), reason=outcome.reason)
        sub.reject(reason=outcome.reason, detail=outcome.detail)
        word = "rejected"
    elif sub.attempts >= policy.max_attempts:
        # An outage is waited out, never turned into a rejection: the send is parked for
        # operations (GET /api/v1/ops/submissions: resend or close), the application says so.
        log.error("mofcom_parked", submission_id=str(submission_id), attempts=sub.attempts)
        reason = sub.park(error=outcome.error)
        await uow.submissions.save(sub)
        view = await uow.applications.get(application_id=sub.application_id, for_update=True)
        if view is not None and view.note(sub, reason):
            await uow.applications.save(view)
        return "parked"
    else:
        # The next round no earlier than MOFCOM asked (Retry-After), else the backoff.
        delay = max(policy.delay(sub.attempts), outcome.retry_after or 0.0)
        log.warning(
            "mofcom_unavailable", submission_id=str(submission_id), attempts=sub.attempts, retry_in=delay
        )
        if sub.retry_later(error=outcome.error, at=now + timedelta(seconds=delay)):
            # The applicant is told why it is still submitting (SubmissionDelayed, throttled).
            view = await uow.applications.get(application_id=sub.application_id, for_update=True)
            if view is not None and view.note(sub, delayed_reason(sub)):
                await uow.applications.save(view)
            uow.track(sub)
        await uow.submissions.save(sub)
        return "retry"
    await uow.submissions.save(sub)
    view = await uow.applications.get(application_id=sub.application_id, for_update=True)
    changed = view is not None and (
        view.accepted(sub) if word == "accepted" else view.back_to_draft(sub, sub.reason or "")
    )
    if view is not None and changed:
        await uow.applications.save(view)
    uow.track(sub)
    return word


# ---------------------------------------------------------------- operations


def _ops_target(sub: Submission | None, submission_id: UUID) -> Submission:
    if sub is None:
        raise NotFound(f"no submission {submission_id}: list them with GET /api/v1/ops/submissions")
    return sub


async def resend_submission(
    uow: UnitOfWork,
    cmd: ResendSubmission,
    *,
    clock: Clock = now_utc,
    wake_sender: Callable[[], None] | None = None,
) -> Submission:
    """Operations: send a parked (or retrying) submission again now, with a fresh round of
    retries; the action is recorded (who, when, why) with the change."""
    async with uow:
        sub = _ops_target(
            await uow.submissions.get(submission_id=cmd.submission_id, for_update=True), cmd.submission_id
        )
        if not sub.resend(now=clock()):
            raise Conflict(
                f"submission {sub.submission_id} is {sub.state}, not waiting for MOFCOM: nothing to resend"
            )
        await uow.submissions.save(sub)
        await uow.ops_actions.record(
            submission_id=sub.submission_id, action="resend", reason=cmd.reason, actor=cmd.actor
        )
        view = await uow.applications.get(application_id=sub.application_id, for_update=True)
        if view is not None and view.note(sub, None):
            await uow.applications.save(view)
    log.info("ops_resend", submission_id=str(sub.submission_id), actor=cmd.actor)
    if wake_sender is not None:
        wake_sender()
    return sub


async def close_submission(uow: UnitOfWork, cmd: CloseSubmission) -> Submission:
    """Operations: give up on a parked (or retrying) send. SubmissionRejected (reason
    closed_by_operations, the operator's reason in its detail) sends the application back to
    draft and into its history; the action is recorded (who, when, why) in the same transaction."""
    async with uow:
        sub = _ops_target(
            await uow.submissions.get(submission_id=cmd.submission_id, for_update=True), cmd.submission_id
        )
        if not sub.close(reason=cmd.reason):
            raise Conflict(
                f"submission {sub.submission_id} is {sub.state}, not waiting for MOFCOM: nothing to close"
            )
        await uow.submissions.save(sub)
        await uow.ops_actions.record(
            submission_id=sub.submission_id, action="close", reason=cmd.reason, actor=cmd.actor
        )
        view = await uow.applications.get(application_id=sub.application_id, for_update=True)
        if view is not None and view.back_to_draft(sub, sub.reason or ""):
            await uow.applications.save(view)
        uow.track(sub)
    log.info("ops_close", submission_id=str(sub.submission_id), actor=cmd.actor)
    return sub


# ---------------------------------------------------------------- the tables

Handler = Callable[..., Awaitable[Any]]

COMMAND_HANDLERS: Mapping[type[Any], Handler] = {
    BindEkey: bind_ekey,
    UnbindEkey: unbind_ekey,
    BindEkeyByCertificate: bind_ekey_by_certificate,
    RevokeApplication: revoke,
    RefreshApprovalStatus: refresh_approval_status,
    ReceiveReviewResult: receive_review_result,
    ReceiveLicenseCancellation: receive_license_cancellation,
    ClaimDueSubmissions: claim_due,
    SendSubmission: send_submission,
    ResolveWaitingSubmissions: resolve_waiting,
    RerouteStrandedRequests: reroute_stranded,
    ResendSubmission: resend_submission,
    CloseSubmission: close_submission,
}

EVENT_HANDLERS: Mapping[type[Event], Handler] = {
    EkeyHeartbeat: on_heartbeat,
    ApplicationSubmitted: on_application_submitted,
    ApplicationSigned: on_signed,
    SigningFailed: on_signing_failed,
}
