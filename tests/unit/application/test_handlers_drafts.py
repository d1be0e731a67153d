"""Command handlers of drafts, edits, deletion, copies and contracts, on the fake unit of work."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from ail_application.domain import commands as c
from ail_application.domain.contracts import ContractInfo, IronOreContract
from ail_application.domain.form import DraftCreate, FormFields
from ail_application.domain.model import Application
from ail_application.service_layer import handlers
from ail_shared.calendar import valid_until
from ail_shared.errors import Conflict, InvalidInput, NotFound
from ail_shared.lifecycle import ApplicationStatus as S
from tests.unit.application.fakes import (
    ENTERPRISE,
    OTHER_ENTERPRISE,
    TODAY,
    FakeUnitOfWork,
    complete_contract,
    complete_form,
    context,
    tenant_of,
)

TENANT = tenant_of()
CTX = context()


async def draft(uow: FakeUnitOfWork, **form: Any) -> Application:
    fields = complete_form(**form)
    app: Application = await handlers.handle(
        uow, c.CreateDraft(TENANT, DraftCreate.model_validate(fields)), CTX
    )
    return app


async def in_status(uow: FakeUnitOfWork, status: S, **form: Any) -> Application:
    app = await draft(uow, **form)
    stored = uow.applications.stored(app.id)
    stored.status = status
    return stored


# -- create --------------------------------------------------------------------------------------
async def test_create_draft_stores_the_form_with_defaults_totals_and_a_serial_no() -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow)
    stored = uow.applications.stored(app.id)
    assert stored.status is S.DRAFT and stored.enterprise_code == ENTERPRISE
    assert stored.serial_no == f"NA{TODAY.year % 100:02d}{1:014d}"
    assert stored.importer_name == "北京示例进出口有限公司"  # from the enterprise register
    assert stored.form["trade_mode"] == "10" and stored.form["currency"] == "USD"  # defaults
    assert stored.computed["total_value"] == Decimal("20.00")
    assert stored.computed["valid_until"] == valid_until(TODAY, stored.year)  # the shared calendar
    assert stored.issuing_agency  # from the catalogue
    assert uow.committed == 1 and uow.events == []  # a draft is no event


async def test_create_draft_refuses_read_only_and_unknown_fields_and_a_far_year_all_at_once() -> None:
    uow = FakeUnitOfWork()
    body = DraftCreate.model_validate(
        {**complete_form(), "status": "approved", "colour": "red", "year": 2001}
    )
    with pytest.raises(InvalidInput) as refused:
        await handlers.handle(uow, c.CreateDraft(TENANT, body), CTX)
    assert {p.field for p in refused.value.problems} == {"status", "colour", "year"}
    assert uow.applications.rows == {} and uow.committed == 0


async def test_the_year_check_uses_the_handlers_clock() -> None:
    next_year = DraftCreate.model_validate({**complete_form(), "year": TODAY.year + 1})
    app = await handlers.handle(FakeUnitOfWork(), c.CreateDraft(TENANT, next_year), CTX)
    assert app.year == TODAY.year + 1


# -- edit ----------------------------------------------------------------------------------------
async def test_edit_merges_the_changes_clears_nulls_and_recomputes() -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow)
    changes = FormFields.model_validate(
        {
            "remarks": "分两批",
            "handler_name": None,
            "goods": [{"unit": "070", "quantity": "3", "unit_price": "5"}],
        }
    )
    await handlers.handle(uow, c.EditDraft(TENANT, app.id, changes), CTX)
    stored = uow.applications.stored(app.id)
    assert stored.form["remarks"] == "分两批" and "handler_name" not in stored.form
    assert stored.computed["total_value"] == Decimal("15.00")
    assert stored.version == 2


@pytest.mark.parametrize("status", [S.SUBMITTING, S.PENDING_FIRST_REVIEW, S.APPROVED, S.LICENSE_ISSUED])
async def test_edit_is_refused_where_the_lifecycle_forbids_it_and_changes_nothing(status: S) -> None:
    uow = FakeUnitOfWork()
    app = await in_status(uow, status)
    with pytest.raises(Conflict, match="cannot be edited"):
        await handlers.handle(uow, c.EditDraft(TENANT, app.id, FormFields(remarks="x")), CTX)
    assert "remarks" not in uow.applications.stored(app.id).form


@pytest.mark.parametrize("status", [S.REVOKED, S.FIRST_REVIEW_REJECTED])
async def test_edit_is_allowed_to_correct_a_revoked_or_rejected_application(status: S) -> None:
    uow = FakeUnitOfWork()
    app = await in_status(uow, status)
    await handlers.handle(uow, c.EditDraft(TENANT, app.id, FormFields(remarks="改")), CTX)
    assert uow.applications.stored(app.id).form["remarks"] == "改"


async def test_edit_refuses_creation_only_fields() -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow)
    with pytest.raises(InvalidInput) as refused:
        await handlers.handle(
            uow, c.EditDraft(TENANT, app.id, FormFields.model_validate({"year": 2027})), CTX
        )
    assert {p.field for p in refused.value.problems} == {"year"}


async def test_another_tenants_application_is_not_found() -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow)
    other = tenant_of(OTHER_ENTERPRISE)
    with pytest.raises(NotFound):
        await handlers.handle(uow, c.EditDraft(other, app.id, FormFields(remarks="x")), CTX)
    with pytest.raises(NotFound):
        await handlers.handle(uow, c.DeleteApplication(other, app.id), CTX)
    assert app.id in uow.applications.rows


# -- delete --------------------------------------------------------------------------------------
async def test_delete_removes_a_draft() -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow)
    await handlers.handle(uow, c.DeleteApplication(TENANT, app.id), CTX)
    assert app.id not in uow.applications.rows


async def test_delete_is_refused_once_submitted() -> None:
    uow = FakeUnitOfWork()
    app = await in_status(uow, S.PENDING_FIRST_REVIEW)
    with pytest.raises(Conflict, match="cannot be deleted"):
        await handlers.handle(uow, c.DeleteApplication(TENANT, app.id), CTX)
    assert app.id in uow.applications.rows


async def test_batch_delete_gives_a_result_per_id_each_on_its_own() -> None:
    uow = FakeUnitOfWork()
    deletable = await draft(uow)
    pending = await in_status(uow, S.PENDING_FIRST_REVIEW)
    missing = uuid4()
    results = await handlers.handle(
        uow, c.DeleteApplications(TENANT, [deletable.id, pending.id, missing]), CTX
    )
    assert [(r["id"], r["outcome"]) for r in results] == [
        (str(deletable.id), "deleted"),
        (str(pending.id), "refused"),
        (str(missing), "not_found"),
    ]
    assert "pending_first_review" in results[1]["reason"]
    assert deletable.id not in uow.applications.rows and pending.id in uow.applications.rows
    assert uow.rolled_back == 2  # the refusals roll back alone


# -- copy ----------------------------------------------------------------------------------------
async def test_copies_are_new_drafts_with_new_serials_and_no_numbers_from_any_status() -> None:
    uow = FakeUnitOfWork()
    source = await in_status(uow, S.LICENSE_ISSUED)
    source.form_no, source.license_no = "F1", "L1"
    source.contract = complete_contract()
    copies = await handlers.handle(uow, c.CopyApplication(TENANT, source.id, 3), CTX)
    assert len(copies) == 3 and len({a.serial_no for a in copies} | {source.serial_no}) == 4
    for copy in copies:
        stored = uow.applications.stored(copy.id)
        assert stored.status is S.DRAFT and stored.form_no is None and stored.license_no is None
        assert stored.copied_from == source.id and stored.form == source.form
        assert stored.contract == source.contract


# -- contracts -----------------------------------------------------------------------------------
async def test_save_contract_stores_it_and_remembers_the_applicant_for_the_next_one() -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow)
    contract = ContractInfo.model_validate(complete_contract())
    view = await handlers.handle(uow, c.SaveContract(TENANT, app.id, contract), CTX)
    assert view["saved"] is True and view["foreign_contract"]["contract_no"] == "C1"
    assert uow.applications.stored(app.id).contract == contract.model_dump(mode="json")
    assert uow.applications.applicants[ENTERPRISE]["uscc"] == "91110000776367555X"
    # The next application's contract form is pre-filled from it.
    second = await draft(uow)
    prefilled, saved, was_prefilled = uow.applications.stored(second.id).contract_form(
        await uow.applications.last_applicant(enterprise_code=ENTERPRISE)
    )
    assert (saved, was_prefilled) == (False, True) and prefilled.applicant.uscc == "91110000776367555X"


async def test_save_contract_is_refused_when_not_editable() -> None:
    uow = FakeUnitOfWork()
    app = await in_status(uow, S.APPROVED)
    with pytest.raises(Conflict):
        await handlers.handle(
            uow, c.SaveContract(TENANT, app.id, ContractInfo.model_validate(complete_contract())), CTX
        )
    assert uow.applications.stored(app.id).contract is None and uow.applications.applicants == {}


IRON_ORE = {
    "origin_country": "601",
    "trade_country": "601",
    "contract_no": "BHP-1",
    "contract_type": "long_term",
    "signing_date": TODAY.isoformat(),
    "period_from": TODAY.isoformat(),
    "period_to": TODAY.isoformat(),
    "enterprise_nature": "trader",
    "seller_name_zh": "必和必拓",
    "discharge_ports": ["4200"],
    "freight_cfr": "12000",
    "lines": [
        {
            "category": "粉矿",
            "name": "PB粉",
            "grade_fe_pct": "61.5",
            "quantity_kt": "2",
            "unit_price_usd_per_kt": "100",
        }
    ],
}


async def test_iron_ore_contract_is_computed_stored_and_removed() -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow, commodity_code="2601110000")
    contract = IronOreContract.model_validate(IRON_ORE)
    view = await handlers.handle(uow, c.SaveIronOreContract(TENANT, app.id, contract), CTX)
    stored = uow.applications.stored(app.id)
    assert stored.iron_ore_contract is not None
    assert stored.iron_ore_contract["importer_code"] == ENTERPRISE and view["importer_code"] == ENTERPRISE
    assert Decimal(str(stored.iron_ore_contract["lines"][0]["amount_usd"])) == Decimal("200")
    await handlers.handle(uow, c.RemoveIronOreContract(TENANT, app.id), CTX)
    assert uow.applications.stored(app.id).iron_ore_contract is None


async def test_iron_ore_contract_is_refused_for_other_commodities() -> None:
    uow = FakeUnitOfWork()
    app = await draft(uow)  # DDGS, not heading 2601
    with pytest.raises(InvalidInput) as refused:
        await handlers.handle(
            uow, c.SaveIronOreContract(TENANT, app.id, IronOreContract.model_validate(IRON_ORE)), CTX
        )
    assert [p.field for p in refused.value.problems] == ["commodity_code"]
    assert uow.applications.stored(app.id).iron_ore_contract is None


async def test_remove_iron_ore_contract_is_refused_when_not_editable() -> None:
    uow = FakeUnitOfWork()
    app = await in_status(uow, S.PENDING_SECOND_REVIEW, commodity_code="2601110000")
    app.iron_ore_contract = {"contract_no": "BHP-1"}
    with pytest.raises(Conflict):
        await handlers.handle(uow, c.RemoveIronOreContract(TENANT, app.id), CTX)
    assert uow.applications.stored(app.id).iron_ore_contract == {"contract_no": "BHP-1"}


def test_every_command_has_a_handler() -> None:
    import dataclasses

    defined = {
        v
        for v in vars(c).values()
        if isinstance(v, type) and dataclasses.is_dataclass(v) and v.__module__ == c.__name__
    }
    assert set(handlers.COMMAND_HANDLERS) == defined


# -- optimistic concurrency (If-Match) ------------------------------------------------------------
async def test_an_edit_for_a_version_the_application_no_longer_has_is_refused() -> None:
    from ail_shared.errors import PreconditionFailed

    uow = FakeUnitOfWork()
    app = await draft(uow)
    read = uow.applications.stored(app.id).version
    await handlers.handle(
        uow, c.EditDraft(TENANT, app.id, FormFields(remarks="一"), expected_version=read), CTX
    )
    with pytest.raises(PreconditionFailed) as stale:
        await handlers.handle(
            uow, c.EditDraft(TENANT, app.id, FormFields(remarks="二"), expected_version=read), CTX
        )
    assert "read it again" in stale.value.message
    assert uow.applications.stored(app.id).form["remarks"] == "一"
    contract = ContractInfo.model_validate(complete_contract())
    with pytest.raises(PreconditionFailed):
        await handlers.handle(uow, c.SaveContract(TENANT, app.id, contract, expected_version=read), CTX)
    assert uow.applications.stored(app.id).contract is None
    now = uow.applications.stored(app.id).version
    saved = await handlers.handle(uow, c.SaveContract(TENANT, app.id, contract, expected_version=now), CTX)
    assert saved["version"] == now + 1
