"""The use cases of the application service, one handler per command and per event.

``COMMAND_HANDLERS`` (commands of ``domain/commands.py``: drafts, edits, contracts, copies,
deletion, submission, attachments, key-agri filings) and ``EVENT_HANDLERS`` (what the submission
and signer services' events do to an application) are keyed by type. Every handler takes the
unit of work first; a command handler ``(uow, cmd, ctx)``, an event handler ``(uow, event, env)``
(``ail_shared.consumer.bind_handlers``). The handler loads, the aggregate decides and records its
events, the unit of work writes state and outbox in one transaction.

The tenant scopes every read of a command: another tenant's id is "not found". Business dates
are the China date of ``ctx.clock()`` (``ail_shared.calendar.china_date``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from ail_application.adapters.mofcom_filing import FilingReport
from ail_application.adapters.reference_data import load
from ail_application.domain import commands as c
from ail_application.domain.contracts import IronOreContract
from ail_application.domain.form import form_input, writable_problems
from ail_application.domain.key_agri import KeyAgriFiling
from ail_application.domain.model import (
    Application,
    Attachment,
    EkeyBinding,
    ensure_ekey_bound,
    serial_no,
    unbinding_ends,
)
from ail_application.domain.reference import ReferenceData
from ail_application.service_layer.unit_of_work import UnitOfWork
from ail_shared.auth import Tenant
from ail_shared.calendar import china_date
from ail_shared.consumer import PermanentError
from ail_shared.errors import AilError, FieldProblem, InvalidInput, NotFound, PreconditionFailed
from ail_shared.events import (
    ApplicationRevoked,
    EkeyBound,
    EkeyUnbound,
    Envelope,
    Event,
    LicenseCancelled,
    LicenseExpired,
    LicenseIssued,
    LicenseReissueRequested,
    LicenseReopened,
    LicenseSurrendered,
    LicenseUsedUp,
    ReviewResultReceived,
    SigningDeferred,
    SigningFailed,
    SubmissionAccepted,
    SubmissionDelayed,
    SubmissionRejected,
)
from ail_shared.inputs import license_year_problem
from ail_shared.licenses import LicenseState
from ail_shared.lifecycle import event_reason
from ail_shared.logging import get_logger
from ail_shared.retry import backoff, now_utc

log = get_logger("ail.application.handlers")

# A key-agri filing's rounds: ``backoff(round, base=FILING_BASE_DELAY, cap=FILING_MAX_DELAY)``
# seconds after a failed round.
FILING_BASE_DELAY = 2.0
FILING_MAX_DELAY = 3600.0


@dataclass
class Context:
    """What command handlers need besides the unit of work."""

    ref: ReferenceData = field(default_factory=load)
    clock: Callable[[], datetime] = now_utc
    filing_client: FilingReport | None = None  # the worker's round needs it, nothing else
    filing_report_attempts: int = 6
    filing_base_delay: float = FILING_BASE_DELAY

    def today(self) -> date:
        """Business dates (exchange rate, validity) are calendar days in China."""
        return china_date(self.clock())


async def _load(
    uow: UnitOfWork, tenant: Tenant, application_id: UUID, *, expected_version: int | None = None
) -> Application:
    """The application, locked. With ``expected_version`` (the client's If-Match) it must still
    be that version: under the row lock, so two writers that read the same version cannot both
    pass (issue 12 item 3)."""
    app = await uow.applications.get(
        application_id=application_id, enterprise_codes=tenant.enterprise_codes, for_update=True
    )
    if expected_version is not None and app.version != expected_version:
        raise PreconditionFailed(
            f"application {application_id} changed since you read it (you sent If-Match for version"
            f" {expected_version}; it is at version {app.version}): read it again (GET), apply your"
            " change to what it holds now, and send it with the new ETag"
        )
    uow.track(app)
    return app


# -- drafts --------------------------------------------------------------------------------------
async def create_draft(uow: UnitOfWork, cmd: c.CreateDraft, ctx: Context) -> Application:
    on = ctx.today()
    problems = writable_problems(cmd.form, creating=True)
    year_reason = license_year_problem(cmd.form.year, on) if cmd.form.year is not None else None
    if year_reason is not None:
        problems.append(FieldProblem("year", year_reason))
    if problems:
        raise InvalidInput("the draft has fields in error", problems)
    enterprise = cmd.tenant.enterprise_code
    async with uow:
        year = cmd.form.year or on.year
        app = Application.new_draft(
            serial=serial_no(year, await uow.applications.next_serial()),
            enterprise_code=enterprise,
            importer_name=await uow.applications.enterprise_name(enterprise_code=enterprise),
            year=year,
            form=form_input(cmd.form),
            ref=ctx.ref,
            on=on,
            one_batch_one_license=cmd.form.one_batch_one_license,
            issuing_agency=cmd.form.issuing_agency,
            electronic_license=cmd.form.electronic_license,
            unparsed=cmd.form.unparsed,
        )
        await uow.applications.add(application=app)
        uow.track(app)
    return app


async def edit_draft(uow: UnitOfWork, cmd: c.EditDraft, ctx: Context) -> Application:
    problems = writable_problems(cmd.changes, creating=False)
    if problems:
        raise InvalidInput("the change names fields a client may not write", problems)
    async with uow:
        app = await _load(uow, cmd.tenant, cmd.application_id, expected_version=cmd.expected_version)
        app.edit(form_input(cmd.changes), ref=ctx.ref, on=ctx.today(), unparsed=cmd.changes.unparsed)
        await uow.applications.save(application=app)
    return app


async def delete_application(uow: UnitOfWork, cmd: c.DeleteApplication, ctx: Context) -> None:
    async with uow:
        app = await _load(uow, cmd.tenant, cmd.application_id)
        app.ensure_deletable()
        await uow.applications.delete(application=app)


async def delete_applications(
    uow: UnitOfWork, cmd: c.DeleteApplications, ctx: Context
) -> list[dict[str, Any]]:
    """One result per id, in order; each id succeeds or fails on its own (a savepoint each)."""
    results: list[dict[str, Any]] = []
    for application_id in cmd.ids:
        try:
            await delete_application(uow, c.DeleteApplication(cmd.tenant, application_id), ctx)
            results.append({"id": str(application_id), "outcome": "deleted", "reason": None})
        except AilError as exc:
            outcome = "not_found" if isinstance(exc, NotFound) else "refused"
            results.append({"id": str(application_id), "outcome": outcome, "reason": exc.message})
    return results


async def copy_application(uow: UnitOfWork, cmd: c.CopyApplication, ctx: Context) -> list[Application]:
    async with uow:
        source = await uow.applications.get(
            application_id=cmd.application_id, enterprise_codes=cmd.tenant.enterprise_codes
        )
        copies = []
        on = ctx.today()
        for _ in range(cmd.count):
            new = source.copy(
                serial=serial_no(source.year, await uow.applications.next_serial()), ref=ctx.ref, on=on
            )
            await uow.applications.add(application=new)
            uow.track(new)
            copies.append(new)
    return copies


# -- contracts -----------------------------------------------------------------------------------
async def save_contract(uow: UnitOfWork, cmd: c.SaveContract, ctx: Context) -> dict[str, Any]:
    async with uow:
        app = await _load(uow, cmd.tenant, cmd.application_id, expected_version=cmd.expected_version)
        data = cmd.contract.model_dump(mode="json")
        app.set_contract(data, unparsed=cmd.contract.unparsed)
        await uow.applications.save(application=app)
        await uow.applications.save_applicant(
            enterprise_code=app.enterprise_code, applicant=data["applicant"]
        )
    return {
        "saved": True,
        "prefilled": False,
        **data,
        "raw_inputs": app.contract_raw_inputs(),
        "version": app.version,
    }


async def save_iron_ore_contract(uow: UnitOfWork, cmd: c.SaveIronOreContract, ctx: Context) -> dict[str, Any]:
    async with uow:
        app = await _load(uow, cmd.tenant, cmd.application_id, expected_version=cmd.expected_version)
        app.set_iron_ore_contract(
            cmd.contract.model_dump(mode="json", exclude={"importer_code", "importer_name"})
        )
        await uow.applications.save(application=app)
    # With the application's new version: the route gives it as the ETag.
    return {
        **IronOreContract.model_validate(app.iron_ore_contract).model_dump(mode="json"),
        "version": app.version,
    }


async def remove_iron_ore_contract(uow: UnitOfWork, cmd: c.RemoveIronOreContract, ctx: Context) -> None:
    async with uow:
        app = await _load(uow, cmd.tenant, cmd.application_id, expected_version=cmd.expected_version)
        app.remove_iron_ore_contract()
        await uow.applications.save(application=app)


# -- submission ----------------------------------------------------------------------------------
async def submit_application(uow: UnitOfWork, cmd: c.SubmitApplication, ctx: Context) -> Application:
    async with uow:
        app = await _load(uow, cmd.tenant, cmd.application_id)
        app.submit(
            submitted_by=cmd.tenant.principal.id,
            ref=ctx.ref,
            on=ctx.today(),
            attachments=await uow.attachments.digests(application_id=app.id),
        )
        ensure_ekey_bound(
            app.enterprise_code, await uow.ekey_bindings.get(enterprise_code=app.enterprise_code)
        )
        await uow.applications.save(application=app)
    return app


async def _submit_one(uow: UnitOfWork, tenant: Tenant, raw: str, ctx: Context) -> Application | AilError:
    try:
        application_id = UUID(raw)
    except ValueError:
        return InvalidInput(f"{raw!r} is not an application id")
    try:
        return await submit_application(uow, c.SubmitApplication(tenant, application_id), ctx)
    except AilError as exc:
        return exc


async def submit_applications(
    uow: UnitOfWork, cmd: c.SubmitApplications, ctx: Context
) -> list[tuple[str, Application | AilError]]:
    """Each id on its own (a savepoint each): for every id in the order given, the submitted
    application or the refusal. An id given twice gets its first outcome again (never
    submitted twice); one that is not a UUID is refused without a lookup."""
    outcomes: list[tuple[str, Application | AilError]] = []
    done: dict[str, Application | AilError] = {}
    for raw in cmd.ids:
        if raw not in done:
            done[raw] = await _submit_one(uow, cmd.tenant, raw, ctx)
        outcomes.append((raw, done[raw]))
    return outcomes


# -- attachments ---------------------------------------------------------------------------------
async def add_attachment(uow: UnitOfWork, cmd: c.AddAttachment, ctx: Context) -> Attachment:
    async with uow:
        app = await _load(uow, cmd.tenant, cmd.application_id)
        held = await uow.attachments.count(application_id=app.id)
        attachment = app.attachment(filename=cmd.filename, content=cmd.content, held=held, size=cmd.size)
        await uow.attachments.add(attachment=attachment)
    return attachment


async def delete_attachment(uow: UnitOfWork, cmd: c.DeleteAttachment, ctx: Context) -> None:
    async with uow:
        app = await _load(uow, cmd.tenant, cmd.application_id)
        app.ensure_attachments_changeable()
        await uow.attachments.delete(
            attachment_id=cmd.attachment_id,
            application_id=app.id,
            enterprise_codes=cmd.tenant.enterprise_codes,
        )


# -- key agricultural products filings -----------------------------------------------------------
async def file_key_agri(uow: UnitOfWork, cmd: c.FileKeyAgri, ctx: Context) -> KeyAgriFiling:
    filing = KeyAgriFiling.new(enterprise_code=cmd.tenant.enterprise_code, body=cmd.body)
    async with uow:
        await uow.key_agri_filings.add(filing=filing)
    return filing


async def report_key_agri_filing_again(
    uow: UnitOfWork, cmd: c.ReportKeyAgriFilingAgain, ctx: Context
) -> KeyAgriFiling:
    async with uow:
        filing = await uow.key_agri_filings.get(
            filing_id=cmd.filing_id, enterprise_codes=cmd.tenant.enterprise_codes, for_update=True
        )
        filing.report_again()
        await uow.key_agri_filings.save(filing=filing)
    return filing


async def report_due_filings(uow: UnitOfWork, cmd: c.ReportDueFilings, ctx: Context) -> int:
    """Report the filings that are due now; return how many were tried. The filings stay locked
    during the calls (``FOR UPDATE SKIP LOCKED``), so no replica sends one too."""
    if ctx.filing_client is None:
        raise RuntimeError("report_due_filings needs ctx.filing_client")
    async with uow:
        due = await uow.key_agri_filings.claim_due(max_attempts=ctx.filing_report_attempts, limit=cmd.limit)
        for filing in due:
            outcome = await ctx.filing_client.report(filing.id, filing.enterprise_code, filing.body)
            if outcome.receipt_no:
                filing.reported(receipt_no=outcome.receipt_no, at=ctx.clock())
                log.info("filing_reported", filing_id=str(filing.id), receipt_no=outcome.receipt_no)
            else:
                # The shared backoff, and never sooner than MOFCOM asked (Retry-After).
                delay = max(
                    backoff(filing.report_attempts + 1, base=ctx.filing_base_delay, cap=FILING_MAX_DELAY),
                    outcome.retry_after or 0.0,
                )
                filing.report_failed(
                    error=outcome.error or "MOFCOM gave no receipt",
                    retryable=outcome.retryable,
                    max_attempts=ctx.filing_report_attempts,
                    retry_in=timedelta(seconds=delay),
                )
                log.warning(
                    "filing_report_failed",
                    filing_id=str(filing.id),
                    attempt=filing.report_attempts,
                    final=filing.given_up,
                    error=filing.last_error,
                )
            await uow.key_agri_filings.save(filing=filing)
    return len(due)


CommandHandler = Callable[[UnitOfWork, Any, Context], Awaitable[Any]]

COMMAND_HANDLERS: Mapping[type, CommandHandler] = {
    c.CreateDraft: create_draft,
    c.EditDraft: edit_draft,
    c.DeleteApplication: delete_application,
    c.DeleteApplications: delete_applications,
    c.CopyApplication: copy_application,
    c.SaveContract: save_contract,
    c.SaveIronOreContract: save_iron_ore_contract,
    c.RemoveIronOreContract: remove_iron_ore_contract,
    c.SubmitApplication: submit_application,
    c.SubmitApplications: submit_applications,
    c.AddAttachment: add_attachment,
    c.DeleteAttachment: delete_attachment,
    c.FileKeyAgri: file_key_agri,
    c.ReportKeyAgriFilingAgain: report_key_agri_filing_again,
    c.ReportDueFilings: report_due_filings,
}


async def handle(uow: UnitOfWork, cmd: object, ctx: Context) -> Any:
    """Run ``cmd``'s handler (the entrypoints' one way in)."""
    return await COMMAND_HANDLERS[type(cmd)](uow, cmd, ctx)


# -- events: what the submission flow and MOFCOM answer ------------------------------------------
async def _apply(
    uow: UnitOfWork, application_id: str, change: Callable[[Application], bool], what: str
) -> None:
    """Load the application an event names (locked), let it decide, save it if it changed."""
    async with uow:
        app = await uow.applications.find(application_id=UUID(application_id))
        if app is None or not change(app):
            return
        await uow.applications.save(application=app)
        log.info(
            "application_result_applied",
            application_id=application_id,
            event_type=what,
            status=app.status.value,
        )


async def on_submission_failed(
    uow: UnitOfWork, event: SigningFailed | SubmissionRejected, env: Envelope
) -> None:
    """SigningFailed and SubmissionRejected end a submission alike: back to draft, the reason kept."""
    await _apply(
        uow,
        event.application_id,
        lambda app: app.submission_failed(
            submission_id=event.submission_id, reason=event_reason(event.reason, event.detail)
        ),
        type(event).__name__,
    )


async def on_signing_deferred(
    uow: UnitOfWork, event: SigningDeferred | SubmissionDelayed, env: Envelope
) -> None:
    """SigningDeferred (waiting for the e-key) and SubmissionDelayed (MOFCOM does not answer)
    keep the application submitting and say why."""
    await _apply(
        uow,
        event.application_id,
        lambda app: app.signing_deferred(
            submission_id=event.submission_id, reason=event_reason(event.reason, event.detail)
        ),
        type(event).__name__,
    )


async def on_submission_accepted(uow: UnitOfWork, event: SubmissionAccepted, env: Envelope) -> None:
    await _apply(
        uow,
        event.application_id,
        lambda app: app.submission_accepted(
            submission_id=event.submission_id, form_no=event.form_no, applied_at=event.applied_at
        ),
        "SubmissionAccepted",
    )


async def on_review_result(uow: UnitOfWork, event: ReviewResultReceived, env: Envelope) -> None:
    await _apply(
        uow,
        event.application_id,
        lambda app: app.review_result(
            form_no=event.form_no,
            stage=event.stage,
            result=event.result,
            opinion=event.opinion,
            license_no=event.license_no,
        ),
        "ReviewResultReceived",
    )


async def on_revoked(uow: UnitOfWork, event: ApplicationRevoked, env: Envelope) -> None:
    await _apply(
        uow,
        event.application_id,
        lambda app: app.revoked(form_no=event.form_no, reason=event.reason),
        "ApplicationRevoked",
    )


async def on_license_issued(uow: UnitOfWork, event: LicenseIssued, env: Envelope) -> None:
    await _apply(
        uow,
        event.application_id,
        lambda app: app.license_issued(form_no=event.form_no, license_no=event.license_no),
        "LicenseIssued",
    )


async def on_ekey_bound(uow: UnitOfWork, event: EkeyBound, env: Envelope) -> None:
    binding = EkeyBinding(
        enterprise_code=event.enterprise_code,
        ekey_serial=event.ekey_serial,
        subject=event.subject,
        certificate_pem=event.certificate_pem,
        bound_at=event.bound_at,
    )
    async with uow:
        current = await uow.ekey_bindings.get(enterprise_code=event.enterprise_code, for_update=True)
        if binding.replaces(current):
            await uow.ekey_bindings.save(binding=binding)


async def on_ekey_unbound(uow: UnitOfWork, event: EkeyUnbound, env: Envelope) -> None:
    """The enterprise withdrew its binding: submit is refused again until it binds one."""
    async with uow:
        current = await uow.ekey_bindings.get(enterprise_code=event.enterprise_code, for_update=True)
        if unbinding_ends(current, ekey_serial=event.ekey_serial, bound_at=event.bound_at):
            await uow.ekey_bindings.delete(enterprise_code=event.enterprise_code)


# -- events: the license after issue (ail.customs; the customs service owns license state) -------
async def on_reissue_requested(uow: UnitOfWork, event: LicenseReissueRequested, env: Envelope) -> None:
    """A change or extension was asked for: the draft ``new_application_id``, a copy of the
    license's application that names the license and covers at most its unused quantity. A
    repeated event finds the draft made already (its id is the event's) and changes nothing."""
    ctx = Context()  # the reference data the copy is recomputed with (loaded once, cached)
    async with uow:
        source = await uow.applications.find(application_id=UUID(event.application_id))
        if source is None or source.enterprise_code != event.enterprise_code:
            raise PermanentError(
                f"license {event.license_no}: its application {event.application_id} is not here to copy"
            )
        draft = source.reissue(
            new_id=UUID(event.new_application_id),
            serial=serial_no(source.year, await uow.applications.next_serial()),
            license_no=event.license_no,
            max_quantity=event.quantity,
            max_uses=event.uses,
            ref=ctx.ref,
            on=ctx.today(),
        )
        await uow.applications.add(application=draft)
    log.info("reissue_draft_made", license_no=event.license_no, application_id=event.new_application_id)


_LICENSE_STATE_OF: dict[type[Event], LicenseState] = {
    LicenseUsedUp: LicenseState.USED_UP,
    LicenseReopened: LicenseState.VALID,
    LicenseSurrendered: LicenseState.SURRENDERED,
    LicenseCancelled: LicenseState.CANCELLED,
    LicenseExpired: LicenseState.EXPIRED,
}


async def on_license_state(
    uow: UnitOfWork,
    event: LicenseUsedUp | LicenseReopened | LicenseSurrendered | LicenseCancelled | LicenseExpired,
    env: Envelope,
) -> None:
    state = _LICENSE_STATE_OF[type(event)]
    await _apply(
        uow,
        event.application_id,
        lambda app: app.license_state_changed(license_no=event.license_no, state=state.value),
        type(event).__name__,
    )


EventHandler = Callable[[UnitOfWork, Any, Envelope], Awaitable[None]]

# What the application service applies of ail.customs (its own consumer group).
LICENSE_EVENT_HANDLERS: Mapping[type[Event], EventHandler] = {
    LicenseReissueRequested: on_reissue_requested,
    LicenseUsedUp: on_license_state,
    LicenseReopened: on_license_state,
    LicenseSurrendered: on_license_state,
    LicenseCancelled: on_license_state,
    LicenseExpired: on_license_state,
}

EVENT_HANDLERS: Mapping[type[Event], EventHandler] = {
    SigningFailed: on_submission_failed,
    SigningDeferred: on_signing_deferred,
    SubmissionDelayed: on_signing_deferred,
    SubmissionRejected: on_submission_failed,
    SubmissionAccepted: on_submission_accepted,
    ReviewResultReceived: on_review_result,
    ApplicationRevoked: on_revoked,
    LicenseIssued: on_license_issued,
    EkeyBound: on_ekey_bound,
    EkeyUnbound: on_ekey_unbound,
}
