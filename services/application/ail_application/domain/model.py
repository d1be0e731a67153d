"""The application aggregate. Decides and records events; never does I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from ail_shared.errors import Conflict
from ail_shared.events import ApplicationSubmitted, Event
from ail_shared.vocabulary import ApplicationStatus as S

SUBMITTABLE = {S.DRAFT, S.REVOKED, S.FIRST_REVIEW_REJECTED}


def serial_no(year: int, sequence: int) -> str:
    """``NA`` + 2-digit year + 14 digits (DOMAIN section 3)."""
    return f"NA{year % 100:02d}{sequence:014d}"


@dataclass
class Application:
    id: UUID
    serial_no: str
    enterprise_code: str
    year: int
    status: S = S.DRAFT
    form: dict[str, Any] = field(default_factory=dict)
    form_no: str | None = None
    license_no: str | None = None
    applied_at: datetime | None = None
    status_reason: str | None = None
    submission_id: UUID | None = None
    version: int = 1
    events: list[Event] = field(default_factory=list, repr=False)

    @classmethod
    def new_draft(cls, *, serial: str, enterprise_code: str, year: int, form: dict[str, Any]) -> Application:
        return cls(id=uuid4(), serial_no=serial, enterprise_code=enterprise_code, year=year, form=form)

    def submit(self, *, submitted_by: str) -> None:
        if self.status not in SUBMITTABLE:
            raise Conflict(f"an application in status {self.status} cannot be submitted")
        self.status = S.SUBMITTING
        self.status_reason = None
        self.submission_id = uuid4()
        self.events.append(
            ApplicationSubmitted(
                application_id=str(self.id),
                serial_no=self.serial_no,
                enterprise_code=self.enterprise_code,
                submission_id=str(self.submission_id),
                submitted_by=submitted_by,
                snapshot=self.snapshot(),
            )
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "serial_no": self.serial_no,
            "enterprise_code": self.enterprise_code,
            "year": self.year,
            **self.form,
        }
