"""Issue 13 items 1-5 and 8 at the domain and handler layer (fakes): values kept as typed, date
and format rules, one problem per field and reason, the key-agri filing's names, the size error."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ail_application.domain import commands as c
from ail_application.domain.attachments import MAX_BYTES
from ail_application.domain.contracts import ContractInfo
from ail_application.domain.form import DraftCreate, FormFields, writable_problems
from ail_application.domain.key_agri import KeyAgriFiling
from ail_application.domain.model import Application
from ail_application.service_layer import handlers
from ail_shared.errors import InvalidInput
from tests.unit.application.fakes import TODAY, FakeUnitOfWork, context, tenant_of

TENANT = tenant_of()
CTX = context()


async def test_a_draft_with_an_unreadable_date_keeps_it_as_typed_and_saves_the_rest() -> None:
    uow = FakeUnitOfWork()
    form = DraftCreate.model_validate(
        {
            "handler_name": "王五",
            "expected_arrival_date": "2026/12/20",
            "goods": [{"spec": "s", "quantity": "x"}],
        }
    )
    app = await handlers.handle(uow, c.CreateDraft(TENANT, form), CTX)
    stored = uow.applications.stored(app.id)
    assert stored.form["handler_name"] == "王五" and "expected_arrival_date" not in stored.form
    assert stored.raw_inputs["expected_arrival_date"]["value"] == "2026/12/20"
    assert stored.raw_inputs["goods.0.quantity"]["value"] == "x"

    changes = FormFields.model_validate({"expected_arrival_date": (TODAY + timedelta(days=9)).isoformat()})
    app = await handlers.handle(uow, c.EditDraft(TENANT, app.id, changes), CTX)
    assert set(uow.applications.stored(app.id).raw_inputs) == {"goods.0.quantity"}


def test_kept_values_are_one_unparseable_problem_each_not_also_required() -> None:
    app = Application.new_draft(
        serial="NA2600000000000001",
        enterprise_code="1100776367555",
        importer_name="x",
        year=TODAY.year,
        form={},
        ref=CTX.ref,
        on=TODAY,
        unparsed={"expected_arrival_date": {"value": "2026/12/20", "reason": "not a date"}},
    )
    from ail_application.domain.validation import validate_for_submission

    found = [p for p in validate_for_submission(app, CTX.ref, on=TODAY) if p.field == "expected_arrival_date"]
    assert [p.code for p in found] == ["unparseable"] and "'2026/12/20'" in found[0].reason


def test_limits_and_unknown_names_still_refuse() -> None:
    with pytest.raises(ValueError):
        FormFields.model_validate({"handler_name": "x" * 51, "expected_arrival_date": "bad"})
    with pytest.raises(ValueError):
        ContractInfo.model_validate({"foreign_contract": {"colour": 1, "signing_date": "bad"}})
    with pytest.raises(ValueError):  # a creation-only field cannot be given again: refused, not kept
        DraftCreate.model_validate({"year": "明年", "handler_name": "王五"})
    kept = ContractInfo.model_validate({"foreign_contract": {"signing_date": "2026年1月1日"}}).unparsed
    assert list(kept) == ["contract.foreign_contract.signing_date"]


def test_an_edit_names_a_creation_only_field_once() -> None:
    problems = writable_problems(FormFields.model_validate({"year": 2030}), creating=False)
    assert [(p.field, p.reason) for p in problems] == [("year", "read-only after creation")]
    assert len(InvalidInput("x", problems + problems).problems) == 1


def test_the_key_agri_filing_refuses_names_it_does_not_have() -> None:
    body = dict.fromkeys(("enterprise_name", "customs_registration_no", "business_registration_no"), "v")
    with pytest.raises(InvalidInput) as exc:
        KeyAgriFiling.new(
            enterprise_code="1100776367555", body={**body, "enterprise_code": "1", "colour": "r"}
        )
    reasons = {p.field: p.reason for p in exc.value.problems}
    assert reasons["enterprise_code"].startswith("read-only") and reasons["colour"] == "unknown field"


async def test_the_size_error_quotes_the_files_size_not_the_read_cap() -> None:
    uow = FakeUnitOfWork()
    app = await handlers.handle(uow, c.CreateDraft(TENANT, DraftCreate()), CTX)
    head = b"%PDF-" + b"0" * MAX_BYTES  # what the route reads: the cap and one byte more
    for size, told in ((3 * MAX_BYTES, f"{3 * MAX_BYTES} bytes"), (None, "more than 1 MiB")):
        with pytest.raises(InvalidInput) as exc:
            await handlers.handle(uow, c.AddAttachment(TENANT, app.id, "big.pdf", head, size), CTX)
        [problem] = exc.value.problems
        assert told in problem.reason and str(len(head)) not in problem.reason
