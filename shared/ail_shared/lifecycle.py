"""The application lifecycle (DOMAIN.md section 4), one home for every service and the sandboxes.

What lives here: the statuses, the status a MOFCOM answer or review result leads to, the
forward-only rule (a late or duplicate event never moves a status backwards), and the actions a
status allows (edit, delete, copy, print, submit, revoke, query approval status, attachments).

Callers: application (its aggregate's permissions and the results it applies), submission (what
a review result does, revoke), status (its projection's forward rule), customs (the order of the
application events it keeps). ``tests/unit/shared/test_lifecycle.py`` pins the tables;
``tests/unit/test_one_home.py`` fails when another module defines these rules again.
"""

from __future__ import annotations

from enum import StrEnum

from ail_shared.errors import Conflict


class ApplicationStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTING = "submitting"  # our rule: in flight between draft and pending_first_review
    PENDING_FIRST_REVIEW = "pending_first_review"
    REVOKED = "revoked"
    FIRST_REVIEW_REJECTED = "first_review_rejected"
    PENDING_SECOND_REVIEW = "pending_second_review"
    SECOND_REVIEW_REJECTED = "second_review_rejected"
    APPROVED = "approved"
    LICENSE_ISSUED = "license_issued"


S = ApplicationStatus

# How far along the lifecycle a status is. Statuses of one rank are alternatives (revoked,
# first review rejected and pending second review all end "pending first review").
STATUS_RANK: dict[ApplicationStatus, int] = {
    S.DRAFT: 0,
    S.SUBMITTING: 1,
    S.PENDING_FIRST_REVIEW: 2,
    S.REVOKED: 3,
    S.FIRST_REVIEW_REJECTED: 3,
    S.PENDING_SECOND_REVIEW: 3,
    S.SECOND_REVIEW_REJECTED: 4,
    S.APPROVED: 4,
    S.LICENSE_ISSUED: 5,
}

# MOFCOM's two review stages and their results.
REVIEW_OUTCOMES: dict[tuple[str, str], ApplicationStatus] = {
    ("first", "passed"): S.PENDING_SECOND_REVIEW,
    ("first", "rejected"): S.FIRST_REVIEW_REJECTED,
    ("second", "passed"): S.APPROVED,
    ("second", "rejected"): S.SECOND_REVIEW_REJECTED,
}


def status_after_review(stage: str, result: str) -> ApplicationStatus:
    """The status a review result leads to (``stage``: first|second, ``result``: passed|rejected)."""
    try:
        return REVIEW_OUTCOMES[(stage, result)]
    except KeyError:
        raise ValueError(f"no review outcome for stage {stage!r}, result {result!r}") from None


# What the events of one submission lead to (the review results: ``status_after_review``).
# SigningDeferred leads nowhere: the submission waits for its e-key and stays submitting.
AFTER_SUBMITTED = S.SUBMITTING  # ApplicationSubmitted
AFTER_FAILED = S.DRAFT  # SigningFailed, SubmissionRejected: the submission is over
AFTER_ACCEPTED = S.PENDING_FIRST_REVIEW  # SubmissionAccepted (form no. known)
AFTER_REVOKED = S.REVOKED  # ApplicationRevoked
AFTER_ISSUED = S.LICENSE_ISSUED  # LicenseIssued


# What the applicant does next after a failure whose cause is on the applicant's side of the
# platform (issue 13, item 10): the code alone does not say it. Keyed by the events' reason code.
NEXT_STEP: dict[str, str] = {
    "ekey_not_present": (
        "Plug the e-key into a signer host (it is announced within 15 s), or bind another e-key"
        " with POST /api/v1/ekey-bindings (GET /api/v1/ekeys lists those plugged in), then submit again."
    ),
    "ekey_not_bound": (
        "Bind an e-key with POST /api/v1/ekey-bindings (GET /api/v1/ekeys lists those plugged in),"
        " then submit again."
    ),
}


def event_reason(reason: str, detail: str = "") -> str:
    """What the applicant reads of a failure or a wait (SigningFailed, SubmissionRejected,
    SigningDeferred, SubmissionDelayed): the stable code, then its text (MOFCOM's Chinese reason,
    the signer's detail), e.g. ``commodity_not_on_catalogue: 商品编码 ... 不在 2027 年目录中``, then,
    for a code in ``NEXT_STEP``, the sentence that says what to do. The application's form and
    the status service's view show the same words."""
    text = f"{reason}: {detail}" if detail else reason
    step = NEXT_STEP.get(reason)
    if step is None or step in text:
        return text
    return f"{text.rstrip(' .')}. {step}"


def revoked_reason(reason: str = "") -> str:
    """What the applicant reads of a revocation (ApplicationRevoked): who asked, and the reason
    the applicant gave with the revoke (issue 13, item 11), e.g. ``revoked by applicant: 合同取消``.
    Events from before kept no reason (``""``) or the word ``applicant``."""
    given = reason.strip()
    return f"revoked by applicant: {given}" if given and given != "applicant" else "revoked by applicant"


def moves_forward(current: ApplicationStatus | str, new: ApplicationStatus) -> bool:
    """The forward-only rule, along one submission: a late, duplicate or out-of-order event
    never moves a status backwards nor sideways. A failed submission ends in ``draft`` (only
    from ``submitting``); nothing moves a status out of that ``draft`` (the submission is over)
    and nothing but a new submission leads to ``submitting``. An unknown current status (a row
    written by a newer version) is moved."""
    try:
        current = S(current)
    except ValueError:
        return True
    if current is S.DRAFT or new is S.SUBMITTING:
        return False
    if new is S.DRAFT:
        return current is S.SUBMITTING
    return STATUS_RANK[new] > STATUS_RANK[current]


class Action(StrEnum):
    EDIT = "edit"
    DELETE = "delete"
    COPY = "copy"
    PRINT = "print"
    SUBMIT = "submit"
    REVOKE = "revoke"
    QUERY_APPROVAL = "query_approval"  # 查询审批状态: ask MOFCOM now
    ATTACHMENTS = "attachments"  # upload or delete an attachment


_ALL = frozenset(S)
_CORRECTABLE = frozenset({S.DRAFT, S.REVOKED, S.FIRST_REVIEW_REJECTED})

# DOMAIN.md section 4, "Allowed operations by status". Our rules: edit and submit also from
# revoked and first_review_rejected (correct and resubmit); attachments change only while the
# form may be edited (and only for an electronic license: the aggregate checks that flag).
ALLOWED: dict[Action, frozenset[ApplicationStatus]] = {
    Action.EDIT: _CORRECTABLE,
    Action.DELETE: _CORRECTABLE,
    Action.COPY: _ALL,
    Action.PRINT: _ALL,
    Action.SUBMIT: _CORRECTABLE,
    Action.REVOKE: frozenset({S.PENDING_FIRST_REVIEW}),
    Action.QUERY_APPROVAL: _ALL - {S.DRAFT},
    Action.ATTACHMENTS: _CORRECTABLE,
}

_PAST = {
    Action.EDIT: "edited",
    Action.DELETE: "deleted",
    Action.COPY: "copied",
    Action.PRINT: "printed",
    Action.SUBMIT: "submitted",
    Action.REVOKE: "revoked",
    Action.QUERY_APPROVAL: "queried at MOFCOM",
    Action.ATTACHMENTS: "given or relieved of attachments",
}


def allows(status: ApplicationStatus | str, action: Action) -> bool:
    try:
        return S(status) in ALLOWED[action]
    except ValueError:
        return False


def ensure_allowed(status: ApplicationStatus | str, action: Action, *, what: str = "an application") -> None:
    """Raise ``Conflict`` (409) naming the status and where the action is allowed."""
    if allows(status, action):
        return
    names = ", ".join(sorted(s.value for s in ALLOWED[action]))
    raise Conflict(f"{what} in status '{status}' cannot be {_PAST[action]}; allowed in: {names}")
