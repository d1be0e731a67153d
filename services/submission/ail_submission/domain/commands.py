"""Commands of the submission service: what an entrypoint or a worker asks the service layer to
do (``service_layer.handlers.COMMAND_HANDLERS``). Data only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

if TYPE_CHECKING:
    from ail_submission.domain.model import Submission

Stage = Literal["first", "second"]
Result = Literal["passed", "rejected"]
# The caller's own credentials (Authorization, X-API-Key, X-Enterprise-Code), passed on when the
# application service is asked about an application this service never saw.
Credentials = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class BindEkey:
    """Bind one of the enterprise's e-keys present on a signer host; MOFCOM registers its certificate."""

    enterprise_code: str
    ekey_serial: str
    bound_by: str


@dataclass(frozen=True)
class UnbindEkey:
    """Withdraw the binding of an e-key to one of the caller's enterprises; MOFCOM withdraws its
    certificate. A repeated request answers the recorded withdrawal."""

    enterprise_codes: tuple[str, ...]
    ekey_serial: str
    unbound_by: str


@dataclass(frozen=True)
class BindEkeyByCertificate:
    """Operations and demo data: bind an e-key by its certificate, present or not."""

    enterprise_code: str
    ekey_serial: str
    certificate_pem: str
    bound_by: str = "internal"


@dataclass(frozen=True)
class RevokeApplication:
    application_id: UUID
    enterprise_codes: tuple[str, ...]
    credentials: Credentials = ()
    reason: str = ""  # the applicant's reason (撤销原因), kept and sent to MOFCOM


@dataclass(frozen=True)
class RefreshApprovalStatus:
    """Ask MOFCOM now and apply what it says (查询审批状态)."""

    application_id: UUID
    enterprise_codes: tuple[str, ...]
    credentials: Credentials = ()


@dataclass(frozen=True)
class ReceiveReviewResult:
    """A review result MOFCOM pushed (its signature already checked)."""

    submission_id: UUID
    application_id: UUID
    form_no: str
    stage: Stage
    result: Result
    opinion: str
    license_no: str | None
    reviewed_at: datetime


@dataclass(frozen=True)
class ReceiveLicenseCancellation:
    """MOFCOM cancelled a license it issued (its signed callback, signature already checked)."""

    form_no: str
    application_id: UUID
    license_no: str
    reason: str
    cancelled_at: datetime


@dataclass(frozen=True)
class ClaimDueSubmissions:
    """The sender takes signed submissions whose time has come, with a lease."""

    limit: int
    lease_seconds: float
    # Return the claimed submissions themselves, not their ids: the sender sends each as the
    # claim returned it, without reading it again (issue 16: one transaction less per send).
    rows: bool = False


@dataclass(frozen=True)
class SendSubmission:
    """Send one claimed submission to MOFCOM and record its answer."""

    submission_id: UUID
    # The submission as the claim returned it (``ClaimDueSubmissions(rows=True)``): read again
    # from the database when None.
    claimed: Submission | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ResolveWaitingSubmissions:
    """Decide again the submissions waiting for an e-key (of ``serials``, or all)."""

    serials: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RerouteStrandedRequests:
    """Signature requests sent to a host that stopped announcing the key: elsewhere, or fail."""

    older_than_seconds: float


@dataclass(frozen=True)
class ResendSubmission:
    """Operations: send a parked (or retrying) submission to MOFCOM again now."""

    submission_id: UUID
    reason: str
    actor: str


@dataclass(frozen=True)
class CloseSubmission:
    """Operations: give up on a parked (or retrying) submission, with the reason."""

    submission_id: UUID
    reason: str
    actor: str


Command = (
    BindEkey
    | UnbindEkey
    | BindEkeyByCertificate
    | RevokeApplication
    | RefreshApprovalStatus
    | ReceiveReviewResult
    | ReceiveLicenseCancellation
    | ClaimDueSubmissions
    | SendSubmission
    | ResolveWaitingSubmissions
    | RerouteStrandedRequests
    | ResendSubmission
    | CloseSubmission
)
