"""The key agricultural products filing (重农信息备案): saved first, then reported to MOFCOM by the
filing reporter (``service_layer/workers.py``). Decides and records; never does I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from ail_shared.errors import Conflict, FieldProblem, InvalidInput
from ail_shared.formrules import KEY_AGRI_FILING_FIELDS

# What a client writes: the filing's fields but the enterprise code (from the login). Anything
# else in a body is refused by name, as the application form does (issue 13, item 5).
WRITABLE = frozenset(KEY_AGRI_FILING_FIELDS) - {"enterprise_code"}
READ_ONLY = frozenset(
    {
        "id",
        "enterprise_code",
        "status",
        "created_at",
        "receipt_no",
        "reported_at",
        "report_attempts",
        "last_error",
    }
)


@dataclass
class KeyAgriFiling:
    """Saved first (the client's data is never lost to an outage), then reported to MOFCOM:
    ``saved`` -> ``reported`` (with MOFCOM's receipt no.) or ``report_failed`` (retried with
    backoff for ``max_attempts`` rounds, then left for the applicant to report again)."""

    id: UUID
    enterprise_code: str
    body: dict[str, Any]
    status: str = "saved"
    created_at: datetime | None = None
    receipt_no: str | None = None
    reported_at: datetime | None = None
    report_attempts: int = 0
    last_error: str | None = None
    # When the reporter tries next: after ``retry_in`` (None: at once), never once ``given_up``.
    retry_in: timedelta | None = None
    given_up: bool = False

    @classmethod
    def new(cls, *, enterprise_code: str, body: dict[str, Any]) -> KeyAgriFiling:
        """Every field is required: all missing ones are named at once, with every field a
        client may not write (read-only or unknown)."""
        problems = [FieldProblem(k, "required") for k, v in body.items() if k in WRITABLE and v in (None, "")]
        for name in body:
            if name == "enterprise_code":
                problems.append(FieldProblem(name, "read-only: the enterprise code comes from the login"))
            elif name in READ_ONLY:
                problems.append(FieldProblem(name, "read-only: filled by the system"))
            elif name not in WRITABLE:
                problems.append(FieldProblem(name, "unknown field"))
        if problems:
            raise InvalidInput("the filing is incomplete", problems)
        return cls(id=uuid4(), enterprise_code=enterprise_code, body=body)

    def report_again(self) -> None:
        """The applicant asks for another report (after correcting the cause): a fresh round."""
        if self.status == "reported":
            raise Conflict(f"key-agri filing {self.id} is already reported to MOFCOM")
        self.report_attempts = 0
        self.retry_in, self.given_up = None, False

    def reported(self, *, receipt_no: str, at: datetime) -> None:
        self.status = "reported"
        self.receipt_no = receipt_no
        self.reported_at = at
        self.report_attempts += 1
        self.last_error = None

    def report_failed(self, *, error: str, retryable: bool, max_attempts: int, retry_in: timedelta) -> None:
        """A failed round: tried again after ``retry_in``, unless MOFCOM refused the data (not
        retryable: it must be corrected) or the rounds are used up."""
        self.status = "report_failed"
        self.last_error = error
        self.report_attempts += 1
        self.given_up = not retryable or self.report_attempts >= max_attempts
        self.retry_in = None if self.given_up else retry_in
