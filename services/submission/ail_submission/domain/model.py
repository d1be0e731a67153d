"""The submission service's aggregates: a ``Submission`` (one attempt to get an application to
MOFCOM: signing, sending, MOFCOM's answer and review results) and the service's ``ApplicationView``
(what it knows of an application it has seen submitted). They decide and record their events;
the unit of work writes state and events in one transaction. Pure: no I/O, no clock (``now`` is
passed in). The lifecycle rules come from ``ail_shared.lifecycle``, dates from
``ail_shared.calendar``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ail_shared.calendar import china_date, valid_until_of
from ail_shared.canonical import canonical_json
from ail_shared.errors import Conflict
from ail_shared.events import (
    ApplicationRevoked,
    Event,
    LicenseCancellationReceived,
    LicenseIssued,
    ReviewResultReceived,
    SignatureRequested,
    SigningDeferred,
    SigningFailed,
    SubmissionAccepted,
    SubmissionDelayed,
    SubmissionRejected,
)
from ail_shared.lifecycle import (
    AFTER_ACCEPTED,
    AFTER_FAILED,
    AFTER_ISSUED,
    AFTER_REVOKED,
    AFTER_SUBMITTED,
    ALLOWED,
    Action,
    allows,
    event_reason,
    moves_forward,
    revoked_reason,
    status_after_review,
)
from ail_shared.lifecycle import ApplicationStatus as S
from ail_submission.domain import ekeys
from ail_submission.domain.commands import Result, Stage
from ail_submission.domain.snapshot import summary, tolerance_of

# Submission states (submissions.state).
SIGNING = "signing"
SIGNED = "signed"
ACCEPTED = "accepted"
REJECTED = "rejected"
SIGNING_FAILED = "signing_failed"
WAITING_EKEY = "waiting_ekey"  # no signer host announces the e-key right now (domain.ekeys)
PARKED = "parked"  # MOFCOM did not answer within the sender's retries: waits for operations

EKEY_NOT_PRESENT = "ekey_not_present"
EKEY_NOT_BOUND = "ekey_not_bound"
MOFCOM_UNAVAILABLE = "mofcom_unavailable"
MOFCOM_UNREACHABLE = "mofcom_unreachable"  # not yet given up: SubmissionDelayed
# A delayed submission is announced at its first failed attempt, then every this many attempts
# (at most 40 attempts: 8 entries in the history), or when the kind of error changes.
DELAY_ANNOUNCE_EVERY = 5


def _error_kind(error: str) -> str:
    """``HTTP 503`` / ``ConnectError`` of the retry policy's error text: a new kind is news."""
    return error.split(":", 1)[0].strip()


def delayed_detail(*, attempt: int, at: datetime | None, error: str) -> str:
    """What the applicant reads while MOFCOM does not answer (the application's status reason)."""
    when = (
        at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if at else "once it answers"
    )
    return f"MOFCOM unreachable, attempt {attempt}, next at {when} ({error})"


def delayed_reason(sub: Submission) -> str:
    """The status reason of a delayed submission: the words of its SubmissionDelayed event."""
    detail = delayed_detail(attempt=sub.attempts, at=sub.next_attempt_at, error=sub.last_error or "")
    return event_reason(MOFCOM_UNREACHABLE, detail)


CLOSED_BY_OPERATIONS = "closed_by_operations"


@dataclass
class Submission:
    """One submission of an application (an application submitted N times has N of them).
    ``state``: signing (or waiting_ekey) -> signed -> accepted | rejected, or signing_failed;
    signed -> parked once the sender's retries are spent (operations resend or close it)."""

    submission_id: UUID
    application_id: UUID
    enterprise_code: str
    serial_no: str
    snapshot: dict[str, Any]
    state: str = SIGNING
    ekey_serial: str | None = None
    signer_host: str | None = None
    signature: str | None = None
    algorithm: str | None = None
    certificate_pem: str | None = None
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    form_no: str | None = None
    applied_at: datetime | None = None
    reason: str | None = None
    waiting_since: datetime | None = None
    updated_at: datetime | None = None
    events: list[Event] = field(default_factory=list, repr=False, compare=False)
    # The W3C trace context of the transaction that created it (traceparent): the MOFCOM send
    # and MOFCOM's results continue the submission's trace (ail_shared.telemetry).
    trace_context: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def aggregate_id(self) -> str:
        return str(self.application_id)

    @property
    def tenant(self) -> str:
        return self.enterprise_code

    def payload_b64(self) -> str:
        """The canonical bytes of the snapshot (RFC 8785), base64: what is signed and sent."""
        return base64.b64encode(canonical_json(self.snapshot)).decode()

    # ------------------------------------------------------------ signing

    def dispatch(self, serial: str, decision: ekeys.Decision, *, now: datetime) -> bool:
        """Act on where the e-key is (``ekeys.decide``): ask its host, wait for it, or give up.
        True when a wait begins here."""
        if isinstance(decision, ekeys.Route):
            self.request_signature(serial, decision.host_id)
        elif isinstance(decision, ekeys.Wait):
            return self.wait_for_ekey(serial, decision, now=now)
        else:
            self.fail_signing(EKEY_NOT_PRESENT, decision.detail, serial=serial)
        return False

    def request_signature(self, serial: str, host: str) -> None:
        """Ask ``host`` to sign the snapshot (again, when the first host went away: the request
        carries the same submission id, and only the first answer counts)."""
        self.state, self.ekey_serial, self.signer_host, self.last_error = SIGNING, serial, host, None
        self.events.append(
            SignatureRequested(
                application_id=str(self.application_id),
                submission_id=str(self.submission_id),
                enterprise_code=self.enterprise_code,
                ekey_serial=serial,
                canonical_payload=self.payload_b64(),
                signer_host=host,
            )
        )

    def wait_for_ekey(self, serial: str, wait: ekeys.Wait, *, now: datetime) -> bool:
        """No host announces the key now: keep the submission (nothing goes back to draft) and
        say so once, in a SigningDeferred event. True when the wait begins here."""
        first = self.state != WAITING_EKEY
        self.state, self.ekey_serial, self.last_error = WAITING_EKEY, serial, wait.detail
        self.waiting_since = self.waiting_since or now
        if first:
            self.events.append(
                SigningDeferred(
                    application_id=str(self.application_id),
                    submission_id=str(self.submission_id),
                    ekey_serial=serial,
                    reason=ekeys.WAITING_FOR_EKEY,
                    detail=wait.detail,
                    give_up_at=wait.give_up_at,
                )
            )
        return first

    def fail_signing(self, reason: str, detail: str, *, serial: str = "", announce: bool = True) -> None:
        """The submission cannot be signed. ``announce``: say so in a SigningFailed event (not
        when the signer said it: its own event already did)."""
        self.state, self.reason, self.last_error = SIGNING_FAILED, reason, detail
        if announce:
            self.events.append(
                SigningFailed(
                    application_id=str(self.application_id),
                    submission_id=str(self.submission_id),
                    ekey_serial=serial,
                    reason=reason,
                    detail=detail,
                )
            )

    def signed(self, *, signature: str, algorithm: str, certificate_pem: str, now: datetime) -> bool:
        """The signer's answer; False (nothing changes) for a late or repeated one."""
        if self.state != SIGNING:
            return False
        self.state, self.signature, self.algorithm = SIGNED, signature, algorithm
        self.certificate_pem, self.next_attempt_at = certificate_pem, now
        return True

    # ------------------------------------------------------------ MOFCOM's answer

    def accept(self, *, form_no: str, applied_at: datetime) -> bool:
        if self.state != SIGNED:
            return False
        self.state, self.form_no, self.applied_at, self.lease_until = ACCEPTED, form_no, applied_at, None
        self.events.append(
            SubmissionAccepted(
                application_id=str(self.application_id),
                submission_id=str(self.submission_id),
                form_no=form_no,
                applied_at=applied_at,
            )
        )
        return True

    def reject(self, *, reason: str, detail: str) -> bool:
        if self.state != SIGNED:
            return False
        self.state, self.reason, self.last_error, self.lease_until = REJECTED, reason, detail, None
        self.events.append(
            SubmissionRejected(
                application_id=str(self.application_id),
                submission_id=str(self.submission_id),
                reason=reason,
                detail=detail,
            )
        )
        return True

    def retry_later(self, *, error: str, at: datetime) -> bool:
        """MOFCOM did not answer: the row stays ``signed`` and is sent again at ``at``. The
        applicant is told (SubmissionDelayed) at the first failed attempt, every
        ``DELAY_ANNOUNCE_EVERY`` attempts and when the kind of error changes; True when told."""
        before = self.last_error
        self.last_error, self.next_attempt_at, self.lease_until = error, at, None
        if not (
            self.attempts <= 1
            or self.attempts % DELAY_ANNOUNCE_EVERY == 0
            or before is None
            or _error_kind(before) != _error_kind(error)
        ):
            return False
        self.events.append(
            SubmissionDelayed(
                application_id=str(self.application_id),
                submission_id=str(self.submission_id),
                reason=MOFCOM_UNREACHABLE,
                detail=delayed_detail(attempt=self.attempts, at=at, error=error),
                attempt=self.attempts,
                next_attempt_at=at,
                error=error,
            )
        )
        return True

    def park(self, *, error: str) -> str:
        """The retries are spent: stop sending, keep the submission (nothing goes back to draft)
        until operations resend or close it. Returns the status reason the application shows."""
        self.state, self.last_error, self.next_attempt_at, self.lease_until = PARKED, error, None, None
        return (
            f"{MOFCOM_UNAVAILABLE}: MOFCOM did not answer after {self.attempts} attempts ({error}); "
            "parked until operations resend or close it"
        )

    def resend(self, *, now: datetime) -> bool:
        """Operations: send a parked (or retrying) submission again now, with a fresh round of
        retries. False when it is not waiting for MOFCOM (answered, closed, not signed yet)."""
        if self.state not in (SIGNED, PARKED):
            return False
        self.state, self.attempts, self.next_attempt_at, self.lease_until = SIGNED, 0, now, None
        return True

    def close(self, *, reason: str) -> bool:
        """Operations: give up on a parked (or retrying) send; the application goes back to draft
        with the reason (SubmissionRejected, reason closed_by_operations)."""
        if self.state not in (SIGNED, PARKED):
            return False
        self.state = SIGNED  # reject() ends signed submissions only
        return self.reject(reason=CLOSED_BY_OPERATIONS, detail=reason)

    # ------------------------------------------------------------ review results

    def review(
        self,
        *,
        stage: Stage,
        result: Result,
        opinion: str,
        license_no: str | None,
        reviewed_at: datetime,
        now: datetime,
    ) -> S:
        """Record one review result (and the license, when it comes with one); returns the
        status it leads to. ``now``: the instant the license is issued (its China date counts)."""
        form_no = self.form_no or ""
        about = summary(self.snapshot, fallback_year=china_date(now).year)
        self.events.append(
            ReviewResultReceived(
                application_id=str(self.application_id),
                form_no=form_no,
                stage=stage,
                result=result,
                opinion=opinion,
                license_no=license_no,
                reviewed_at=reviewed_at,
                application=about,
            )
        )
        status = status_after_review(stage, result)
        if status is S.APPROVED and license_no:
            self.events.append(self.license(license_no=license_no, issued_at=now))
            status = AFTER_ISSUED
        return status

    def license(self, *, license_no: str, issued_at: datetime) -> LicenseIssued:
        """The license MOFCOM issued for this submission: valid as the applicant's form said
        (``ail_shared.calendar``, the application's year, the China date of ``issued_at``),
        with the catalogue's overflow tolerance the application put in its snapshot."""
        about = summary(self.snapshot, fallback_year=china_date(issued_at).year)
        return LicenseIssued(
            application_id=str(self.application_id),
            enterprise_code=self.enterprise_code,
            form_no=self.form_no or "",
            license_no=license_no,
            issued_at=issued_at,
            valid_until=valid_until_of(issued_at, about.year),
            commodity_code=about.commodity_code,
            commodity_name=about.commodity_name,
            unit=about.unit,
            quantity=about.total_quantity,
            one_batch_one_license=about.one_batch_one_license,
            overflow_tolerance_pct=tolerance_of(self.snapshot),
            # A change or extension names the license it replaces (the application put it in the
            # snapshot MOFCOM reviewed), with the uses it takes over.
            replaces_license_no=str(self.snapshot.get("replaces_license_no") or "") or None,
            max_uses=_int_or_none(self.snapshot.get("replacement_max_uses")),
        )

    def license_cancelled(self, *, license_no: str, reason: str, cancelled_at: datetime) -> None:
        """MOFCOM cancelled the license of this submission: relayed to the customs service,
        which owns license state (it ignores a repeat)."""
        self.events.append(
            LicenseCancellationReceived(
                application_id=str(self.application_id),
                license_no=license_no,
                reason=reason,
                cancelled_at=cancelled_at,
            )
        )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


@dataclass
class ApplicationView:
    """What this service knows of an application it has seen submitted (its own table; it never
    reads the application service's). Its status follows the current submission only."""

    application_id: UUID
    enterprise_code: str
    submission_id: UUID
    status: str = AFTER_SUBMITTED.value
    status_reason: str | None = None
    form_no: str | None = None
    license_no: str | None = None
    applied_at: datetime | None = None
    events: list[Event] = field(default_factory=list, repr=False, compare=False)

    @property
    def aggregate_id(self) -> str:
        return str(self.application_id)

    @property
    def tenant(self) -> str:
        return self.enterprise_code

    @classmethod
    def submitted(cls, sub: Submission) -> ApplicationView:
        return cls(
            application_id=sub.application_id,
            enterprise_code=sub.enterprise_code,
            submission_id=sub.submission_id,
        )

    def resubmitted(self, sub: Submission) -> None:
        """A new submission of the application: it is the current one now, and the previous
        form's numbers are not its own (none shows until MOFCOM answers, issue 13 item 12)."""
        self.submission_id, self.status, self.status_reason = sub.submission_id, AFTER_SUBMITTED.value, None
        self.form_no = self.license_no = self.applied_at = None

    def follows(self, sub: Submission) -> bool:
        return self.submission_id == sub.submission_id

    def note(self, sub: Submission, reason: str | None) -> bool:
        """Say why the current submission, still submitting, is where it is (or clear it)."""
        if not (self.follows(sub) and self.status == S.SUBMITTING):
            return False
        self.status_reason = reason
        return True

    def back_to_draft(self, sub: Submission, reason: str) -> bool:
        """The current submission is over before MOFCOM accepted it."""
        if not (self.follows(sub) and moves_forward(self.status, AFTER_FAILED)):
            return False
        self.status, self.status_reason = AFTER_FAILED.value, reason
        return True

    def dispatched(self, sub: Submission, decision: ekeys.Decision, *, began_waiting: bool) -> bool:
        """What ``Submission.dispatch`` did, on the application."""
        if isinstance(decision, ekeys.Route):
            return self.note(sub, None)
        if isinstance(decision, ekeys.Wait):
            return began_waiting and self.note(sub, ekeys.waiting_reason(sub.ekey_serial or ""))
        return self.back_to_draft(sub, EKEY_NOT_PRESENT)

    def accepted(self, sub: Submission) -> bool:
        if not (self.follows(sub) and moves_forward(self.status, AFTER_ACCEPTED)):
            return False
        self.status, self.status_reason = AFTER_ACCEPTED.value, None
        self.form_no, self.license_no, self.applied_at = sub.form_no, None, sub.applied_at
        return True

    def reviewed(self, *, form_no: str, status: S, license_no: str | None, opinion: str) -> bool:
        """A review result of the form no. it shows moves it forward (never backwards)."""
        if self.form_no != form_no or not moves_forward(self.status, status):
            return False
        self.status, self.status_reason = status.value, opinion
        self.license_no = license_no or self.license_no
        return True

    def check_revocable(self) -> None:
        """409 unless the lifecycle allows a revoke in this status (``ail_shared.lifecycle``)."""
        if not allows(self.status, Action.REVOKE):
            where = ", ".join(sorted(s.value for s in ALLOWED[Action.REVOKE]))
            raise Conflict(
                f"application {self.application_id} is {self.status}: revoke is allowed only from {where}"
            )

    def revoke(self, *, revoked_at: datetime, reason: str = "") -> None:
        """MOFCOM has withdrawn the application at the applicant's request; ``reason`` is the
        applicant's (kept in the event, the history and at MOFCOM)."""
        self.check_revocable()
        self.status, self.status_reason = AFTER_REVOKED.value, revoked_reason(reason)
        self.events.append(
            ApplicationRevoked(
                application_id=str(self.application_id),
                form_no=self.form_no,
                revoked_at=revoked_at,
                reason=reason,
            )
        )


@dataclass(frozen=True)
class CallbackRefusal:
    code: str
    message: str
    status: int = 422
    retry: bool = False  # MOFCOM may come again (we have not recorded its answer yet)


def callback_refusal(
    *,
    sub: Submission | None,
    application_id: UUID,
    form_no: str,
    stage: str,
    result: str,
    license_no: str | None,
    recorded: dict[str, tuple[str, str | None]],
) -> CallbackRefusal | None:
    """Whether a (signed) MOFCOM review result fits the submission it names (issue 10, item 4):
    a submission we sent to MOFCOM, for that application, accepted under that form no., and a
    result that fits what is recorded (``recorded``: stage -> (result, license no.)). None when
    it fits; a repeat of a recorded result fits (it is applied once anyway)."""
    if sub is None:
        return CallbackRefusal(
            "unknown_submission", "the result names a submission that was never sent to MOFCOM"
        )
    sid = sub.submission_id
    if sub.application_id != application_id:
        return CallbackRefusal(
            "application_mismatch", f"submission {sid} is not of application {application_id}"
        )
    if not sub.form_no:
        if sub.state == SIGNED:
            return CallbackRefusal(
                "form_not_recorded",
                f"submission {sid} is being sent; its form no. is not recorded yet",
                status=409,
                retry=True,
            )
        return CallbackRefusal("not_accepted", f"submission {sid} is {sub.state}: MOFCOM never accepted it")
    if sub.form_no != form_no:
        return CallbackRefusal("form_no_mismatch", f"submission {sid} has another form no. than {form_no}")
    if license_no and not (stage == "second" and result == "passed"):
        return CallbackRefusal(
            "license_no_unexpected",
            f"a license no. comes only with a passed second review, not {stage} {result}",
        )
    if stage in recorded and recorded[stage] != (result, license_no):
        was = recorded[stage]
        return CallbackRefusal(
            "result_conflict",
            f"form {form_no}: the {stage} review was already recorded as {was[0]}"
            + (f" with license {was[1]}" if was[1] else ""),
            status=409,
        )
    if stage == "second" and recorded.get("first", ("passed", None))[0] == "rejected":
        return CallbackRefusal(
            "stage_conflict",
            f"form {form_no} was rejected at first review: there is no second review",
            status=409,
        )
    if stage == "first" and result == "rejected" and "second" in recorded:
        return CallbackRefusal(
            "stage_conflict", f"form {form_no} has a second review: its first review passed", status=409
        )
    return None
