"""Submission-time validation as a pure function, with property-based tests."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ail_application.adapters.reference_data import load
from ail_application.domain.model import Application
from ail_application.domain.validation import FORM_REQUIRED, validate_for_submission
from ail_shared.errors import Conflict, InvalidInput
from ail_shared.lifecycle import ApplicationStatus

REF = load()
TODAY = date.today()


def form(**over: Any) -> dict[str, Any]:
    f = {
        "commodity_code": "2303300010",
        "handler_name": "张三",
        "import_user_code": "1100776367555",
        "import_user_name": "用户",
        "trade_mode": "10",
        "forex_source": "10",
        "commodity_usage": "11",
        "currency": "USD",
        "trade_country": "502",
        "origin_country": "502",
        "customs_ports": ["2200"],
        "expected_arrival_date": (TODAY + timedelta(days=40)).isoformat(),
        "goods": [{"spec": "s", "unit": "070", "quantity": "10", "unit_price": "2"}],
    }
    f.update(over)
    return f


def contract() -> dict[str, Any]:
    return {
        "applicant": {
            "enterprise_code": "1100776367555",
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


def application(f: dict[str, Any] | None = None, with_contract: bool = True) -> Application:
    app = Application.new_draft(
        serial="NA2600000000000001",
        enterprise_code="1100776367555",
        importer_name="北京示例",
        year=TODAY.year if TODAY.month < 12 else TODAY.year,
        form=f if f is not None else form(),
        ref=REF,
        on=TODAY,
    )
    app.contract = contract() if with_contract else None
    return app


def test_complete_application_has_no_problems():
    assert validate_for_submission(application(), REF, on=TODAY) == []


@given(st.sets(st.sampled_from(FORM_REQUIRED), min_size=1))
def test_every_missing_required_field_is_reported_at_once(missing):
    f = {k: v for k, v in form().items() if k not in missing}
    app = application(f)
    app.form = f  # no defaults: the client cleared them
    paths = {p.field for p in validate_for_submission(app, REF, on=TODAY)}
    assert set(missing) <= paths


@given(st.text(min_size=1, max_size=6).filter(lambda s: s.strip() and s not in REF.codes["countries"]))
def test_any_value_not_on_its_table_is_refused(value):
    problems = validate_for_submission(
        application(form(trade_country=value, origin_country=value)), REF, on=TODAY
    )
    assert {p.field for p in problems} == {"trade_country", "origin_country"}


@given(
    st.decimals(min_value=1, max_value=10**6, places=2), st.decimals(min_value=1, max_value=10**6, places=2)
)
def test_goods_may_not_exceed_the_contract(contract_qty, goods_qty):
    app = application(
        form(goods=[{"spec": "s", "unit": "070", "quantity": str(goods_qty), "unit_price": "1"}])
    )
    assert app.contract is not None
    app.contract["foreign_contract"]["total_quantity"] = str(contract_qty)
    app.contract["foreign_contract"]["total_amount"] = "100000000"
    paths = {p.field for p in validate_for_submission(app, REF, on=TODAY)}
    assert ("contract.foreign_contract.total_quantity" in paths) == (goods_qty > contract_qty)


def test_iron_ore_requires_its_contract_with_a_clear_message():
    problems = validate_for_submission(application(form(commodity_code="2601120000")), REF, on=TODAY)
    assert [p.field for p in problems] == ["iron_ore_contract"]
    assert "iron ore (HS heading 2601" in problems[0].reason


def test_missing_contract_and_incoherent_dates():
    app = application(
        form(expected_arrival_date=(TODAY - timedelta(days=30)).isoformat()), with_contract=True
    )
    assert app.contract is not None
    app.contract["foreign_contract"]["expiry_date"] = (TODAY - timedelta(days=10)).isoformat()
    paths: dict[str, list[str]] = {}
    for p in validate_for_submission(app, REF, on=TODAY):
        paths.setdefault(p.field, []).append(p.reason)
    assert "must not be before the signing date" in paths["contract.foreign_contract.expiry_date"]
    assert any("signing date" in r for r in paths["expected_arrival_date"])
    assert {p.field for p in validate_for_submission(application(with_contract=False), REF, on=TODAY)} == {
        "contract"
    }


def test_submit_refuses_with_all_problems_and_records_nothing():
    app = application(form(handler_name=None, goods=[]), with_contract=False)
    with pytest.raises(InvalidInput) as exc:
        app.submit(submitted_by="t", ref=REF, on=TODAY)
    assert {p.field for p in exc.value.problems} >= {"handler_name", "goods", "contract"}
    assert app.status is ApplicationStatus.DRAFT and app.events == []


def test_submit_records_the_snapshot_and_status_rules_hold():
    app = application()
    app.submit(submitted_by="t", ref=REF, on=TODAY)
    assert app.status is ApplicationStatus.SUBMITTING
    snap = app.events[0].snapshot  # type: ignore[attr-defined]
    assert snap["commodity_name"] == "干玉米酒糟(DDGS)" and snap["total_value_usd"] == "20.00"
    assert snap["contract"]["foreign_contract"]["contract_no"] == "C1"
    with pytest.raises(Conflict):
        app.edit({"remarks": "x"}, ref=REF, on=TODAY)
    with pytest.raises(Conflict):
        app.ensure_deletable()
    copy = app.copy(serial="NA2600000000000002", ref=REF, on=TODAY)
    assert copy.status is ApplicationStatus.DRAFT and copy.form_no is None and copy.copied_from == app.id


@pytest.mark.parametrize("status", list(ApplicationStatus))
def test_status_rules_table(status):
    app = application()
    app.status = status
    editable = status in (
        ApplicationStatus.DRAFT,
        ApplicationStatus.REVOKED,
        ApplicationStatus.FIRST_REVIEW_REJECTED,
    )
    for action in (lambda: app.edit({"remarks": "x"}, ref=REF, on=TODAY), app.ensure_deletable):
        if editable:
            action()
        else:
            with pytest.raises(Conflict):
                action()
    assert app.copy(serial="NA2600000000000009", ref=REF, on=TODAY).status is ApplicationStatus.DRAFT
