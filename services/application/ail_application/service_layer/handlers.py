"""Command handlers of the application service: drafts, contracts, copies, deletion, submission.

Each takes a connection (inside the request's transaction), the tenant, and the command. The
tenant scopes every read: another tenant's id is "not found"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from ail_application.adapters.eligibility import CatalogueEligibility, EligibilityChecker
from ail_application.adapters.repository import ApplicationRepository
from ail_application.domain.contracts import ContractInfo, IronOreContract
from ail_application.domain.form import CREATION_ONLY, READ_ONLY, READ_ONLY_LINE, DraftCreate, FormFields
from ail_application.domain.model import Application, serial_no
from ail_application.domain.reference import ReferenceData, load
from ail_application.service_layer.results import ensure_ekey_bound
from ail_application.service_layer.unit_of_work import UnitOfWork
from ail_shared.auth import Tenant
from ail_shared.errors import AilError, FieldProblem, InvalidInput, NotFound
from ail_shared.inputs import license_year_problem

CHINA = ZoneInfo("Asia/Shanghai")


def today() -> date:
    """Business dates (exchange rate, validity) are calendar days in China."""
    return datetime.now(CHINA).date()


@dataclass(frozen=True)
class CreateDraft:
    form: DraftCreate


@dataclass(frozen=True)
class EditDraft:
    application_id: UUID
    changes: FormFields


@dataclass(frozen=True)
class SubmitApplication:
    application_id: UUID


@dataclass
class Context:
    """What handlers need besides the connection: reference data and the eligibility source."""

    ref: ReferenceData = field(default_factory=load)
    eligibility: EligibilityChecker = field(default_factory=lambda: CatalogueEligibility(load()))


def writable_problems(body: FormFields, *, creating: bool) -> list[FieldProblem]:
    """Every read-only or unknown field the client wrote, by name."""
    problems = []
    for name in body.model_extra or {}:
        if name in READ_ONLY or name in CREATION_ONLY:
            problems.append(FieldProblem(name, "read-only: filled by the system"))
        else:
            problems.append(FieldProblem(name, "unknown field"))
    if not creating:
        for name in CREATION_ONLY & body.model_fields_set:
            problems.append(FieldProblem(name, "read-only after creation"))
    for i, line in enumerate(body.goods or []):
        for name in line.model_extra or {}:
            reason = "read-only: computed" if name in READ_ONLY_LINE else "unknown field"
            problems.append(FieldProblem(f"goods.{i}.{name}", reason))
    return problems


def _form_input(body: FormFields) -> dict[str, Any]:
    data = body.model_dump(mode="json", exclude_unset=True, exclude=set(CREATION_ONLY))
    for k in list(data):
        if k not in FormFields.model_fields:
            data.pop(k)
    if data.get("goods") is not None:
        data["goods"] = [
            {k: v for k, v in g.items() if k in ("spec", "unit", "quantity", "unit_price")}
            for g in data["goods"]
        ]
    return data


async def create_draft(
    conn: asyncpg.Connection, tenant: Tenant, cmd: CreateDraft, ctx: Context
) -> Application:
    problems = writable_problems(cmd.form, creating=True)
    year_reason = license_year_problem(cmd.form.year, today()) if cmd.form.year is not None else None
    if year_reason is not None:
        problems.append(FieldProblem("year", year_reason))
    if problems:
        raise InvalidInput("the draft has fields in error", problems)
    enterprise = tenant.enterprise_code
    async with UnitOfWork(conn) as uow:
        on = today()
        year = cmd.form.year or on.year
        app = Application.new_draft(
            serial=serial_no(year, await uow.applications.next_serial()),
            enterprise_code=enterprise,
            importer_name=await uow.applications.enterprise_name(enterprise),
            year=year,
            form=_form_input(cmd.form),
            ref=ctx.ref,
            on=on,
            one_batch_one_license=cmd.form.one_batch_one_license,
            issuing_agency=cmd.form.issuing_agency,
            electronic_license=cmd.form.electronic_license,
        )
        await uow.applications.add(uow.track(app))
    return app


async def _load(uow: UnitOfWork, tenant: Tenant, application_id: UUID) -> Application:
    return uow.track(
        await uow.applications.get(
            id=application_id, enterprise_codes=tenant.enterprise_codes, for_update=True
        )
    )


async def edit_draft(conn: asyncpg.Connection, tenant: Tenant, cmd: EditDraft, ctx: Context) -> Application:
    problems = writable_problems(cmd.changes, creating=False)
    if problems:
        raise InvalidInput("the change names fields a client may not write", problems)
    async with UnitOfWork(conn) as uow:
        app = await _load(uow, tenant, cmd.application_id)
        app.edit(_form_input(cmd.changes), ref=ctx.ref, on=today())
        await uow.applications.save(app)
    return app


async def delete(conn: asyncpg.Connection, tenant: Tenant, application_id: UUID) -> None:
    async with UnitOfWork(conn) as uow:
        app = await _load(uow, tenant, application_id)
        app.ensure_deletable()
        await uow.applications.delete(app)


async def batch_delete(conn: asyncpg.Connection, tenant: Tenant, ids: list[UUID]) -> list[dict[str, Any]]:
    """One result per id, in order; each id succeeds or fails on its own (savepoint each)."""
    results: list[dict[str, Any]] = []
    for application_id in ids:
        try:
            await delete(conn, tenant, application_id)
            results.append({"id": str(application_id), "outcome": "deleted", "reason": None})
        except AilError as exc:
            outcome = "not_found" if isinstance(exc, NotFound) else "refused"
            results.append({"id": str(application_id), "outcome": outcome, "reason": exc.message})
    return results


async def copy(
    conn: asyncpg.Connection, tenant: Tenant, application_id: UUID, count: int, ctx: Context
) -> list[Application]:
    async with UnitOfWork(conn) as uow:
        source = await uow.applications.get(id=application_id, enterprise_codes=tenant.enterprise_codes)
        copies = []
        on = today()
        for _ in range(count):
            new = source.copy(
                serial=serial_no(source.year, await uow.applications.next_serial()), ref=ctx.ref, on=on
            )
            await uow.applications.add(uow.track(new))
            copies.append(new)
    return copies


async def get_contract(conn: asyncpg.Connection, tenant: Tenant, application_id: UUID) -> dict[str, Any]:
    """The saved contract, or a new one whose applicant part is pre-filled from the last entry."""
    repo = ApplicationRepository(conn)
    app = await repo.get(id=application_id, enterprise_codes=tenant.enterprise_codes)
    if app.contract is not None:
        return {
            "saved": True,
            "prefilled": False,
            **ContractInfo.model_validate(app.contract).model_dump(mode="json"),
        }
    applicant = await repo.last_applicant(app.enterprise_code)
    contract = ContractInfo.model_validate({"applicant": applicant or {}})
    if not applicant:
        contract.applicant.enterprise_code = app.enterprise_code
        contract.applicant.name = app.importer_name or None
    return {"saved": False, "prefilled": applicant is not None, **contract.model_dump(mode="json")}


async def put_contract(
    conn: asyncpg.Connection, tenant: Tenant, application_id: UUID, contract: ContractInfo
) -> dict[str, Any]:
    async with UnitOfWork(conn) as uow:
        app = await _load(uow, tenant, application_id)
        data = contract.model_dump(mode="json")
        app.set_contract(data)
        await uow.applications.save(app)
        await uow.applications.save_applicant(app.enterprise_code, data["applicant"])
    return {"saved": True, "prefilled": False, **data}


async def get_iron_ore(conn: asyncpg.Connection, tenant: Tenant, application_id: UUID) -> dict[str, Any]:
    app = await ApplicationRepository(conn).get(id=application_id, enterprise_codes=tenant.enterprise_codes)
    if app.iron_ore_contract is None:
        raise NotFound(f"application {application_id} has no iron-ore contract yet; PUT it first")
    return IronOreContract.model_validate(app.iron_ore_contract).model_dump(mode="json")


async def put_iron_ore(
    conn: asyncpg.Connection, tenant: Tenant, application_id: UUID, contract: IronOreContract
) -> dict[str, Any]:
    async with UnitOfWork(conn) as uow:
        app = await _load(uow, tenant, application_id)
        app.set_iron_ore_contract(
            contract.model_dump(mode="json", exclude={"importer_code", "importer_name"})
        )
        await uow.applications.save(app)
    return IronOreContract.model_validate(app.iron_ore_contract).model_dump(mode="json")


async def delete_iron_ore(conn: asyncpg.Connection, tenant: Tenant, application_id: UUID) -> None:
    async with UnitOfWork(conn) as uow:
        app = await _load(uow, tenant, application_id)
        app.remove_iron_ore_contract()
        await uow.applications.save(app)


async def submit(
    conn: asyncpg.Connection, tenant: Tenant, cmd: SubmitApplication, ctx: Context | None = None
) -> Application:
    ctx = ctx or Context()
    async with UnitOfWork(conn) as uow:
        app = await _load(uow, tenant, cmd.application_id)
        app.submit(submitted_by=tenant.principal.id, ref=ctx.ref, on=today())
        await ensure_ekey_bound(conn, app.enterprise_code)
        await uow.applications.save(app)
    return app


COMMAND_HANDLERS = {CreateDraft: create_draft, EditDraft: edit_draft, SubmitApplication: submit}
