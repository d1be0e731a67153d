"""In-memory stand-ins of the application service's unit of work and repositories, for the
handler tests (no database, no Kafka, no HTTP).

The fake repositories store copies, as a database would: a handler that changes an aggregate but
forgets to save it leaves the stored state as it was. ``FakeUnitOfWork`` commits or rolls back
each ``async with`` (a rollback restores every repository), counts the commits and collects the
events of the tracked aggregates as the real one writes them to the outbox."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from ail_application.adapters.mofcom_filing import ReportOutcome
from ail_application.adapters.reference_data import load
from ail_application.domain.key_agri import KeyAgriFiling
from ail_application.domain.model import Application, Attachment, EkeyBinding
from ail_application.service_layer.handlers import Context
from ail_shared import topics
from ail_shared.auth import Principal, Tenant
from ail_shared.calendar import CHINA
from ail_shared.errors import NotFound
from ail_shared.events import Envelope, Event, envelope_for

ENTERPRISE = "1100776367555"
OTHER_ENTERPRISE = "1100776367666"
STORED_AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
REF = load()


def tenant_of(enterprise_code: str = ENTERPRISE) -> Tenant:
    principal = Principal(
        key_id="k1", kind="enterprise", enterprise_code=enterprise_code, agency_code=None, authorised=()
    )
    return Tenant(principal=principal, enterprise_codes=(enterprise_code,))


class FakeApplications:
    def __init__(self) -> None:
        self.rows: dict[UUID, Application] = {}
        self.names: dict[str, str] = {ENTERPRISE: "北京示例进出口有限公司"}
        self.applicants: dict[str, dict[str, Any]] = {}
        self.serial = 0
        self.deleted: list[UUID] = []

    @staticmethod
    def _copy(app: Application) -> Application:
        stored = copy.deepcopy(app)
        stored.events = []
        return stored

    async def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    async def enterprise_name(self, *, enterprise_code: str) -> str:
        return self.names.get(enterprise_code, "")

    async def add(self, *, application: Application) -> None:
        application.created_at = application.updated_at = STORED_AT
        self.rows[application.id] = self._copy(application)

    async def get(
        self, *, application_id: UUID, enterprise_codes: Sequence[str], for_update: bool = False
    ) -> Application:
        app = self.rows.get(application_id)
        if app is None or app.enterprise_code not in enterprise_codes:
            raise NotFound(f"application {application_id} not found")
        return self._copy(app)

    async def find(self, *, application_id: UUID) -> Application | None:
        app = self.rows.get(application_id)
        return self._copy(app) if app is not None else None

    async def save(self, *, application: Application) -> None:
        application.version += 1
        self.rows[application.id] = self._copy(application)

    async def delete(self, *, application: Application) -> None:
        del self.rows[application.id]
        self.deleted.append(application.id)

    async def last_applicant(self, *, enterprise_code: str) -> dict[str, Any] | None:
        return self.applicants.get(enterprise_code)

    async def save_applicant(self, *, enterprise_code: str, applicant: dict[str, Any]) -> None:
        self.applicants[enterprise_code] = applicant

    def stored(self, application_id: UUID) -> Application:
        return self.rows[application_id]


class FakeAttachments:
    def __init__(self) -> None:
        self.rows: dict[UUID, Attachment] = {}

    async def digests(self, *, application_id: UUID) -> list[dict[str, Any]]:
        return [
            {
                "id": str(a.id),
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
            }
            for a in self.rows.values()
            if a.application_id == application_id
        ]

    async def count(self, *, application_id: UUID) -> int:
        return sum(1 for a in self.rows.values() if a.application_id == application_id)

    async def add(self, *, attachment: Attachment) -> None:
        attachment.created_at = STORED_AT
        self.rows[attachment.id] = copy.deepcopy(attachment)

    async def delete(
        self, *, attachment_id: UUID, application_id: UUID, enterprise_codes: Sequence[str]
    ) -> None:
        a = self.rows.get(attachment_id)
        if a is None or a.application_id != application_id or a.enterprise_code not in enterprise_codes:
            raise NotFound(f"attachment {attachment_id} not found")
        del self.rows[attachment_id]


class FakeEkeyBindings:
    def __init__(self) -> None:
        self.rows: dict[str, EkeyBinding] = {}

    async def get(self, *, enterprise_code: str, for_update: bool = False) -> EkeyBinding | None:
        return self.rows.get(enterprise_code)

    async def save(self, *, binding: EkeyBinding) -> None:
        self.rows[binding.enterprise_code] = binding

    async def delete(self, *, enterprise_code: str) -> None:
        self.rows.pop(enterprise_code, None)


class FakeKeyAgriFilings:
    """``now`` is the fake database clock; a failed round is due again once ``now`` passes it."""

    def __init__(self) -> None:
        self.rows: dict[UUID, KeyAgriFiling] = {}
        self.next_attempt_at: dict[UUID, datetime] = {}
        self.now = STORED_AT

    async def add(self, *, filing: KeyAgriFiling) -> None:
        filing.created_at = self.now
        self.rows[filing.id] = copy.deepcopy(filing)
        self.next_attempt_at[filing.id] = self.now

    async def get(
        self, *, filing_id: UUID, enterprise_codes: Sequence[str], for_update: bool = False
    ) -> KeyAgriFiling:
        f = self.rows.get(filing_id)
        if f is None or f.enterprise_code not in enterprise_codes:
            raise NotFound(f"key-agri filing {filing_id} not found")
        return copy.deepcopy(f)

    async def claim_due(self, *, max_attempts: int, limit: int) -> list[KeyAgriFiling]:
        due = [
            f
            for f in self.rows.values()
            if f.status in ("saved", "report_failed")
            and self.next_attempt_at[f.id] <= self.now
            and f.report_attempts < max_attempts
        ]
        due.sort(key=lambda f: self.next_attempt_at[f.id])
        return [copy.deepcopy(f) for f in due[:limit]]

    async def save(self, *, filing: KeyAgriFiling) -> None:
        self.rows[filing.id] = copy.deepcopy(filing)
        self.next_attempt_at[filing.id] = (
            datetime.max.replace(tzinfo=UTC)
            if filing.given_up
            else self.now + (filing.retry_in or timedelta(0))
        )


class FakeUnitOfWork:
    topic = topics.APPLICATION

    def __init__(self) -> None:
        self.applications = FakeApplications()
        self.attachments = FakeAttachments()
        self.ekey_bindings = FakeEkeyBindings()
        self.key_agri_filings = FakeKeyAgriFilings()
        self.committed = 0
        self.rolled_back = 0
        self.events: list[Event] = []  # what the outbox got, in order
        self.outbox: list[tuple[str, Envelope]] = []
        self._tracked: list[Any] = []
        self._saved: dict[str, Any] = {}

    def _repositories(self) -> dict[str, Any]:
        return {
            "applications": self.applications,
            "attachments": self.attachments,
            "ekey_bindings": self.ekey_bindings,
            "key_agri_filings": self.key_agri_filings,
        }

    def track(self, aggregate: Any) -> None:
        if not any(a is aggregate for a in self._tracked):
            self._tracked.append(aggregate)

    def emit(self, topic: str, event: Event, *, aggregate_id: str, tenant: str) -> None:
        self.outbox.append((topic, envelope_for(event, aggregate_id=aggregate_id, tenant=tenant)))
        self.events.append(event)

    async def __aenter__(self) -> FakeUnitOfWork:
        self._tracked = []
        self._saved = {name: copy.deepcopy(repo.__dict__) for name, repo in self._repositories().items()}
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            for name, repo in self._repositories().items():
                repo.__dict__.clear()
                repo.__dict__.update(self._saved[name])
            self.rolled_back += 1
            return
        for aggregate in self._tracked:
            while aggregate.events:
                event = aggregate.events.pop(0)
                self.events.append(event)
                self.outbox.append(
                    (
                        self.topic,
                        envelope_for(event, aggregate_id=aggregate.aggregate_id, tenant=aggregate.tenant),
                    )
                )
        self.committed += 1


@dataclass
class FakeFilingClient:
    """Answers with ``outcomes`` in turn (then a receipt), recording each report."""

    outcomes: list[ReportOutcome] = field(default_factory=list)
    reports: list[tuple[UUID, str, dict[str, Any]]] = field(default_factory=list)
    closed: bool = False

    async def report(self, filing_id: UUID, enterprise_code: str, body: dict[str, Any]) -> ReportOutcome:
        self.reports.append((filing_id, enterprise_code, body))
        if self.outcomes:
            return self.outcomes.pop(0)
        return ReportOutcome(f"R{len(self.reports)}", None, False)

    async def aclose(self) -> None:
        self.closed = True


# -- builders ------------------------------------------------------------------------------------
# Submission-time validation compares dates with the real calendar, so the fixed clock of the
# handlers is this morning in China and the form's dates are relative to it.
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.astimezone(CHINA).date()


def context(**over: Any) -> Context:
    return Context(ref=REF, clock=lambda: NOW, **over)


def complete_form(**over: Any) -> dict[str, Any]:
    f: dict[str, Any] = {
        "commodity_code": "2303300010",
        "handler_name": "张三",
        "import_user_code": ENTERPRISE,
        "import_user_name": "用户",
        "trade_country": "502",
        "origin_country": "502",
        "customs_ports": ["2200"],
        "expected_arrival_date": (TODAY + timedelta(days=40)).isoformat(),
        "goods": [{"spec": "s", "unit": "070", "quantity": "10", "unit_price": "2"}],
    }
    f.update(over)
    return f


def complete_contract() -> dict[str, Any]:
    return {
        "applicant": {
            "enterprise_code": ENTERPRISE,
            "name": "北京示例",
            "uscc": "91110000776367555X",
            "address": "a",
            "contact": "c",
            "phone": "010-12345678",
        },
        "foreign_contract": {
            "contract_no": "C1",
            "foreign_party_name_en": "ADM",
            "signing_date": (TODAY - timedelta(days=3)).isoformat(),
            "expiry_date": (TODAY + timedelta(days=300)).isoformat(),
            "total_quantity": "10",
            "total_amount": "20",
            "settlement_currency": "USD",
        },
        "other": {},
    }


def ekey_binding(enterprise_code: str = ENTERPRISE, bound_at: datetime = STORED_AT) -> EkeyBinding:
    return EkeyBinding(
        enterprise_code=enterprise_code,
        ekey_serial="EK-1",
        subject="CN=北京示例",
        certificate_pem="-----BEGIN CERTIFICATE-----",
        bound_at=bound_at,
    )
