"""Attachments, key-agri filings (saving, reporting again, the reporter's rounds and its worker)
and the outbox set-aside handler, on the fake unit of work."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import uuid4

import pytest

from ail_application.adapters.mofcom_filing import ReportOutcome
from ail_application.domain import commands as c
from ail_application.domain.form import DraftCreate
from ail_application.domain.model import Application
from ail_application.service_layer import handlers
from ail_application.service_layer.set_aside import SET_ASIDE_HANDLERS, on_submitted_set_aside
from ail_application.service_layer.workers import FilingReporter
from ail_shared.errors import Conflict, InvalidInput, NotFound
from ail_shared.events import ApplicationSubmitted
from ail_shared.inputs import ATTACHMENTS_MAX
from ail_shared.lifecycle import ApplicationStatus as S
from ail_shared.outbox import SetAside
from tests.unit.application.fakes import (
    ENTERPRISE,
    OTHER_ENTERPRISE,
    FakeFilingClient,
    FakeUnitOfWork,
    complete_form,
    context,
    tenant_of,
)

TENANT = tenant_of()
CTX = context()
PDF = b"%PDF-1.4 scan"
PNG = b"\x89PNG\r\n\x1a\n...."


async def draft(uow: FakeUnitOfWork, **over: object) -> Application:
    body = DraftCreate.model_validate({**complete_form(), **over})
    app: Application = await handlers.handle(uow, c.CreateDraft(TENANT, body), CTX)
    return app


# -- attachments ---------------------------------------------------------------------------------
async def test_an_attachment_is_stored_with_its_type_by_content_size_and_digest() -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow)
    attachment = await handlers.handle(uow, c.AddAttachment(TENANT, app.id, "scan.png", PDF), CTX)
    [stored] = uow.attachments.rows.values()
    assert (
        stored.id == attachment.id
        and stored.application_id == app.id
        and stored.enterprise_code == ENTERPRISE
    )
    assert stored.content_type == "application/pdf"  # the content decides, not the name
    assert attachment.size == len(PDF) and len(attachment.sha256) == 64 and attachment.created_at is not None


async def test_an_attachment_is_refused_for_a_paper_license() -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow, electronic_license=False)
    with pytest.raises(Conflict, match="electronic-license"):
        await handlers.handle(uow, c.AddAttachment(TENANT, app.id, "a.pdf", PDF), CTX)
    assert uow.attachments.rows == {}


async def test_an_attachment_of_a_type_not_allowed_or_over_the_count_is_refused_with_every_reason() -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow)
    for _ in range(ATTACHMENTS_MAX):
        await handlers.handle(uow, c.AddAttachment(TENANT, app.id, "a.png", PNG), CTX)
    with pytest.raises(InvalidInput) as refused:
        await handlers.handle(uow, c.AddAttachment(TENANT, app.id, "a.exe", b"MZ\x90\x00"), CTX)
    reasons = [p.reason for p in refused.value.problems]
    assert any("not an allowed type" in r for r in reasons) and any(
        "the most it may have" in r for r in reasons
    )
    assert len(uow.attachments.rows) == ATTACHMENTS_MAX


async def test_an_empty_file_is_refused() -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow)
    with pytest.raises(InvalidInput) as refused:
        await handlers.handle(uow, c.AddAttachment(TENANT, app.id, "a.pdf", b""), CTX)
    assert [p.reason for p in refused.value.problems] == ["the file is empty"]


@pytest.mark.parametrize("status", [S.SUBMITTING, S.APPROVED])
async def test_attachments_change_only_while_the_form_may_be_edited(status: S) -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow)
    attachment = await handlers.handle(uow, c.AddAttachment(TENANT, app.id, "a.pdf", PDF), CTX)
    uow.applications.stored(app.id).status = status
    with pytest.raises(Conflict, match="attachments"):
        await handlers.handle(uow, c.AddAttachment(TENANT, app.id, "b.pdf", PDF), CTX)
    with pytest.raises(Conflict, match="attachments"):
        await handlers.handle(uow, c.DeleteAttachment(TENANT, app.id, attachment.id), CTX)
    assert list(uow.attachments.rows) == [attachment.id]


async def test_delete_attachment_removes_it_and_another_tenant_gets_not_found() -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow)
    attachment = await handlers.handle(uow, c.AddAttachment(TENANT, app.id, "a.pdf", PDF), CTX)
    with pytest.raises(NotFound):
        await handlers.handle(
            uow, c.DeleteAttachment(tenant_of(OTHER_ENTERPRISE), app.id, attachment.id), CTX
        )
    with pytest.raises(NotFound):
        await handlers.handle(uow, c.DeleteAttachment(TENANT, app.id, uuid4()), CTX)
    await handlers.handle(uow, c.DeleteAttachment(TENANT, app.id, attachment.id), CTX)
    assert uow.attachments.rows == {}


# -- key-agri filings ----------------------------------------------------------------------------
FILING = {
    "enterprise_name": "北京示例进出口有限公司",
    "customs_registration_no": "1105960123",
    "business_registration_no": "110000012345678",
    "registered_capital_wan_yuan": "5000",
    "business_address": "北京市朝阳区示例路1号",
    "contact": "王五",
    "phone": "010-87654321",
}


async def test_a_filing_is_saved_for_the_tenants_enterprise() -> None:
    uow = FakeUnitOfWork()
    filing = await handlers.handle(uow, c.FileKeyAgri(TENANT, dict(FILING)), CTX)
    stored = uow.key_agri_filings.rows[filing.id]
    assert (stored.status, stored.enterprise_code, stored.body) == ("saved", ENTERPRISE, FILING)
    assert stored.report_attempts == 0 and stored.created_at is not None


async def test_an_incomplete_filing_names_every_missing_field_and_saves_nothing() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(InvalidInput) as refused:
        await handlers.handle(uow, c.FileKeyAgri(TENANT, {**FILING, "contact": None, "phone": ""}), CTX)
    assert {(p.field, p.reason) for p in refused.value.problems} == {
        ("contact", "required"),
        ("phone", "required"),
    }
    assert uow.key_agri_filings.rows == {}


async def rounds(uow: FakeUnitOfWork, client: FakeFilingClient, **over: object) -> int:
    ctx = context(filing_client=client, **over)
    tried: int = await handlers.handle(uow, c.ReportDueFilings(limit=20), ctx)
    return tried


async def test_a_round_reports_due_filings_and_records_the_receipt() -> None:
    uow = FakeUnitOfWork()
    filing = await handlers.handle(uow, c.FileKeyAgri(TENANT, dict(FILING)), CTX)
    client = FakeFilingClient()
    assert await rounds(uow, client) == 1
    stored = uow.key_agri_filings.rows[filing.id]
    assert (stored.status, stored.receipt_no, stored.report_attempts, stored.last_error) == (
        "reported",
        "R1",
        1,
        None,
    )
    assert stored.reported_at is not None
    assert client.reports == [(filing.id, ENTERPRISE, FILING)]
    assert await rounds(uow, client) == 0  # reported: never sent again


async def test_a_retryable_failure_is_tried_again_after_the_backoff() -> None:
    uow = FakeUnitOfWork()
    filing = await handlers.handle(uow, c.FileKeyAgri(TENANT, dict(FILING)), CTX)
    client = FakeFilingClient([ReportOutcome(None, "MOFCOM answered HTTP 503", True)])
    assert await rounds(uow, client) == 1
    stored = uow.key_agri_filings.rows[filing.id]
    assert (stored.status, stored.report_attempts, stored.last_error) == (
        "report_failed",
        1,
        "MOFCOM answered HTTP 503",
    )
    assert stored.retry_in == timedelta(seconds=2) and not stored.given_up
    assert await rounds(uow, client) == 0  # not due yet
    uow.key_agri_filings.now += timedelta(seconds=2)
    assert await rounds(uow, client) == 1
    assert uow.key_agri_filings.rows[filing.id].status == "reported"


async def test_a_round_waits_at_least_as_long_as_mofcom_asked() -> None:
    uow = FakeUnitOfWork()
    filing = await handlers.handle(uow, c.FileKeyAgri(TENANT, dict(FILING)), CTX)
    await rounds(
        uow, FakeFilingClient([ReportOutcome(None, "MOFCOM answered HTTP 429", True, retry_after=90.0)])
    )
    assert uow.key_agri_filings.rows[filing.id].retry_in == timedelta(seconds=90)


async def test_a_refusal_is_not_retried_and_the_rounds_end_after_the_last_attempt() -> None:
    uow = FakeUnitOfWork()
    refused = await handlers.handle(uow, c.FileKeyAgri(TENANT, dict(FILING)), CTX)
    client = FakeFilingClient([ReportOutcome(None, "MOFCOM answered HTTP 422", False)])
    await rounds(uow, client)
    assert uow.key_agri_filings.rows[refused.id].given_up
    uow.key_agri_filings.now += timedelta(days=365)
    assert await rounds(uow, client) == 0

    uow = FakeUnitOfWork()
    filing = await handlers.handle(uow, c.FileKeyAgri(TENANT, dict(FILING)), CTX)
    client = FakeFilingClient([ReportOutcome(None, "timeout", True)] * 2)
    await rounds(uow, client, filing_report_attempts=2)
    uow.key_agri_filings.now += timedelta(days=1)
    await rounds(uow, client, filing_report_attempts=2)
    stored = uow.key_agri_filings.rows[filing.id]
    assert (stored.status, stored.report_attempts, stored.given_up) == ("report_failed", 2, True)


async def test_report_again_starts_a_fresh_round_for_a_failed_filing() -> None:
    uow = FakeUnitOfWork()
    filing = await handlers.handle(uow, c.FileKeyAgri(TENANT, dict(FILING)), CTX)
    await rounds(uow, FakeFilingClient([ReportOutcome(None, "MOFCOM answered HTTP 422", False)]))
    again = await handlers.handle(uow, c.ReportKeyAgriFilingAgain(TENANT, filing.id), CTX)
    assert again.report_attempts == 0 and again.status == "report_failed"
    client = FakeFilingClient()
    assert await rounds(uow, client) == 1  # due at once
    assert uow.key_agri_filings.rows[filing.id].status == "reported"


async def test_report_again_is_refused_once_reported_and_not_found_for_another_tenant() -> None:
    uow = FakeUnitOfWork()
    filing = await handlers.handle(uow, c.FileKeyAgri(TENANT, dict(FILING)), CTX)
    with pytest.raises(NotFound):
        await handlers.handle(uow, c.ReportKeyAgriFilingAgain(tenant_of(OTHER_ENTERPRISE), filing.id), CTX)
    await rounds(uow, FakeFilingClient())
    with pytest.raises(Conflict, match="already reported"):
        await handlers.handle(uow, c.ReportKeyAgriFilingAgain(TENANT, filing.id), CTX)


async def test_the_filing_reporter_worker_runs_rounds_until_no_work_is_left() -> None:
    uow = FakeUnitOfWork()
    await handlers.handle(uow, c.FileKeyAgri(TENANT, dict(FILING)), CTX)
    client = FakeFilingClient()
    reporter = FilingReporter(lambda: uow, context(filing_client=client), poll_seconds=60)
    assert await reporter.step() == 0.0  # work found: the next round at once
    assert await reporter.step() is None  # nothing due: wait the poll interval (or a wake)
    reporter.start()
    await asyncio.sleep(0)
    await reporter.aclose()
    assert len(client.reports) == 1


# -- the outbox set an event aside ---------------------------------------------------------------
def set_aside(event: ApplicationSubmitted, code: str = "message_too_large") -> SetAside:
    return SetAside(
        id=1,
        event_id=uuid4(),
        message_key=event.application_id,
        topic="ail.application",
        event_type="ApplicationSubmitted",
        value=b"x" * 2_000_000,
        code=code,
        reason="MessageSizeTooLargeError",
    )


async def test_a_submission_set_aside_returns_the_application_to_draft_with_what_to_correct() -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow)
    stored = uow.applications.stored(app.id)
    stored.status, stored.submission_id = S.SUBMITTING, uuid4()
    event = ApplicationSubmitted(
        application_id=str(app.id),
        serial_no=app.serial_no,
        enterprise_code=ENTERPRISE,
        submission_id=str(stored.submission_id),
        submitted_by="x",
        snapshot={},
    )
    assert SET_ASIDE_HANDLERS[ApplicationSubmitted] is on_submitted_set_aside
    await on_submitted_set_aside(uow, event, set_aside(event))
    after = uow.applications.stored(app.id)
    assert after.status is S.DRAFT and after.status_reason is not None
    assert after.status_reason.startswith("submission_too_large: ")
    # Once moved on (or for another submission) a set-aside changes nothing.
    after.status = S.PENDING_FIRST_REVIEW
    await on_submitted_set_aside(uow, event, set_aside(event))
    assert uow.applications.stored(app.id).status is S.PENDING_FIRST_REVIEW
