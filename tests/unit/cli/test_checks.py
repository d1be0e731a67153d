"""Row checks of ail import, without a server: code tables, formats, required cells, the rules
across sheets, and the request bodies built from the rows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from ail_cli.checks import (
    Assembled,
    Problem,
    Reference,
    check_application,
    check_row,
    contract_body,
    draft_body,
    iron_ore_body,
)
from ail_cli.layout import APPLICATIONS, CONTRACTS, GOODS, IRON_ORE, sheet_of

REF = Reference.from_api(
    {
        "countries": [{"code": "502", "name_zh": "美国"}, {"code": "601", "name_zh": "澳大利亚"}],
        "customs_ports": [{"code": "2200", "name_zh": "上海"}, {"code": "4200", "name_zh": "青岛"}],
        "units": [{"code": "070", "name_zh": "吨"}, {"code": "035", "name_zh": "千克"}],
        "currencies": [{"code": "USD", "name_zh": "美元"}, {"code": "EUR", "name_zh": "欧元"}],
        "trade_modes": [{"code": "10", "name_zh": "一般贸易"}],
    },
    [
        {"code": "2303300010", "year": 2026, "electronic": True},
        {"code": "2601110000", "year": 2026, "electronic": True},
        {"code": "1001190000", "year": 2026, "electronic": False},
    ],
)
YEAR = 2026


def app_row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "reference": "R1",
        "year": YEAR,
        "handler_name": "张三",
        "import_user_code": "1100776367555",
        "import_user_name": "用户",
        "trade_country": "502",
        "origin_country": "502",
        "customs_port_1": "2200",
        "expected_arrival_date": "2026-12-20",
        "commodity_code": "2303300010",
    }
    row.update(over)
    return row


def problems(sheet: str, cells: dict[str, Any], complete: bool = True) -> list[tuple[str, str]]:
    _, found = check_row(sheet, 5, cells, REF, complete=complete)
    assert all(p.sheet == sheet and p.row == 5 for p in found)
    return [(p.column, p.reason) for p in found]


def test_a_complete_row_has_no_problems() -> None:
    assert problems(APPLICATIONS, app_row()) == []


def test_every_problem_of_a_row_at_once_by_column() -> None:
    found = problems(
        APPLICATIONS,
        app_row(
            trade_country="999", handler_name=None, expected_arrival_date="2026-13-45", customs_port_2="2200"
        ),
    )
    columns = [c for c, _ in found]
    assert sorted(columns) == ["customs_port_2", "expected_arrival_date", "handler_name", "trade_country"]
    assert dict(found)["trade_country"].startswith("'999' is not in code table 'countries'")
    assert dict(found)["handler_name"] == "required"


def test_incomplete_rows_pass_when_allowed_but_bad_codes_never_do() -> None:
    assert problems(APPLICATIONS, {"reference": "R1", "commodity_code": "2303300010"}, complete=False) == []
    assert [
        c for c, _ in problems(APPLICATIONS, {"reference": "R1", "trade_country": "999"}, complete=False)
    ] == ["trade_country"]


def test_the_reference_is_always_required() -> None:
    assert [c for c, _ in problems(GOODS, {"spec": "x"}, complete=False)] == ["reference"]


@pytest.mark.parametrize(
    ("raw", "code"),
    [("070", "070"), (70, "070"), (70.0, "070"), ("070 吨", "070"), ("kg", None), ("7", None)],
)
def test_unit_codes_as_spreadsheets_write_them(raw: Any, code: str | None) -> None:
    values, found = check_row(
        GOODS,
        2,
        {"reference": "R", "spec": "s", "unit": raw, "quantity": 1, "unit_price": 1},
        REF,
        complete=True,
    )
    assert values.get("unit") == code
    assert bool(found) is (code is None)


def test_dates_numbers_and_yes_no() -> None:
    values, found = check_row(
        APPLICATIONS,
        2,
        app_row(
            expected_arrival_date=datetime(2026, 12, 20, 0, 0),
            one_batch_one_license="是",
            electronic_license="no",
        ),
        REF,
        complete=True,
    )
    assert found == []
    assert values["expected_arrival_date"] == "2026-12-20"
    assert values["one_batch_one_license"] is True and values["electronic_license"] is False
    values, _ = check_row(
        GOODS,
        2,
        {"reference": "R", "spec": "s", "unit": "070", "quantity": 1000.0, "unit_price": 250.5},
        REF,
        complete=True,
    )
    assert (values["quantity"], values["unit_price"]) == ("1000", "250.5")
    bad = {"reference": "R", "spec": "s", "unit": "070", "quantity": -1, "unit_price": "x"}
    assert sorted(c for c, _ in problems(GOODS, bad)) == ["quantity", "unit_price"]


def test_commodity_rules() -> None:
    assert dict(problems(APPLICATIONS, app_row(commodity_code="0000000000")))["commodity_code"].startswith(
        "'0000000000' is not"
    )
    assert dict(problems(APPLICATIONS, app_row(commodity_code="2303300010", year=2025)))[
        "commodity_code"
    ] == ("'2303300010' is not on the automatic-import catalogue for 2025")
    assert "electronic_license" in dict(
        problems(APPLICATIONS, app_row(commodity_code="1001190000", electronic_license="yes"))
    )
    assert "import_user_code" in dict(problems(APPLICATIONS, app_row(import_user_code="12345")))


def test_contract_row_rules() -> None:
    row = {
        "reference": "R1",
        "applicant.enterprise_code": "110077636755",
        "applicant.uscc": "lowercase",
        "foreign_contract.signing_date": "2026-10-01",
        "foreign_contract.expiry_date": "2026-09-01",
    }
    found = dict(problems(CONTRACTS, row, complete=False))
    assert set(found) == {"applicant.enterprise_code", "applicant.uscc", "foreign_contract.expiry_date"}


def _assembled(**kw: Any) -> Assembled:
    app, _ = check_row(APPLICATIONS, 2, app_row(**kw.pop("app", {})), REF, complete=True)
    return Assembled(2, app, **kw)


def test_across_sheets_goods_contract_and_iron_ore() -> None:
    lone = _assembled()
    assert {(p.sheet, p.row, p.column) for p in check_application(lone, complete=True)} == {
        (APPLICATIONS, 2, "reference")
    }
    assert len(check_application(lone, complete=True)) == 2  # no goods, no contract
    assert check_application(lone, complete=False) == []
    goods = [(2, {"quantity": "1000", "unit_price": "250.5"}), (3, {"quantity": "500", "unit_price": "2"})]
    contract = (
        7,
        {
            "foreign_contract.total_quantity": "1400",
            "foreign_contract.total_amount": "250000",
            "foreign_contract.settlement_currency": "USD",
            "foreign_contract.signing_date": "2026-12-30",
        },
    )
    found = check_application(_assembled(goods=goods, contract=contract), complete=True)
    assert {(p.sheet, p.row, p.column) for p in found} == {
        (CONTRACTS, 7, "foreign_contract.total_quantity"),
        (CONTRACTS, 7, "foreign_contract.total_amount"),
        (APPLICATIONS, 2, "expected_arrival_date"),
    }
    ore = _assembled(app={"commodity_code": "2601110000"}, goods=goods, contract=(7, {}))
    assert [p.column for p in check_application(ore, complete=True)] == ["commodity_code"]
    not_ore = _assembled(goods=goods, contract=(7, {}), iron_ore=(4, {}), iron_ore_lines=[(2, {})])
    assert [(p.sheet, p.row) for p in check_application(not_ore, complete=True)] == [(IRON_ORE, 4)]


def test_request_bodies() -> None:
    app, _ = check_row(
        APPLICATIONS, 2, app_row(customs_port_2="4200", enterprise_code="1100776367555"), REF, complete=True
    )
    body = draft_body(
        app, [{"reference": "R1", "spec": "s", "unit": "070", "quantity": "1", "unit_price": "2"}]
    )
    assert body["customs_ports"] == ["2200", "4200"]
    assert body["goods"] == [{"spec": "s", "unit": "070", "quantity": "1", "unit_price": "2"}]
    assert not {"reference", "enterprise_code", "customs_port_1", "attachments"} & set(body)
    assert contract_body({"reference": "R1", "applicant.name": "A", "agency_contract.agent": "B"}) == {
        "applicant": {"name": "A"},
        "foreign_contract": {},
        "other": {},
        "agency_contract": {"agent": "B"},
    }
    ore = iron_ore_body(
        {"reference": "R1", "contract_no": "C", "discharge_port_1": "4200"},
        [{"reference": "R1", "name": "PB"}],
    )
    assert ore == {"contract_no": "C", "discharge_ports": ["4200"], "lines": [{"name": "PB"}]}


def test_problems_read_as_sheet_row_column() -> None:
    assert str(Problem("goods", 9, "unit", "required")) == "goods row 9, unit: required"


def test_sheet_names_of_files() -> None:
    assert sheet_of("applications") == APPLICATIONS
    assert sheet_of("batch-7-goods") == GOODS
    assert sheet_of("day1_iron_ore_contracts") == IRON_ORE
    assert sheet_of("notes") is None
    assert date.today()  # the checks default the year to today's
