"""The pure statistics rules: China-local month, what counts, exactly-once folding decisions,
monthly and year-to-date rows, CSV."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ail_shared.events import ApplicationSummary, ReviewResultReceived
from ail_stats.domain.figures import (
    CSV_COLUMNS,
    MonthlyQuery,
    NotCountable,
    china_month,
    contribution,
    decide,
    figure_key,
    is_approval,
    key_partition,
    monthly_rows,
    rows_csv,
)


def review(
    at: datetime,
    *,
    stage: str = "second",
    result: str = "passed",
    enterprise: str = "1100776367555",
    code: str = "1001991000",
    category: str = "",
    qty: str = "10.5",
    usd: str = "100.25",
    with_summary: bool = True,
) -> ReviewResultReceived:
    summary = ApplicationSummary(
        enterprise_code=enterprise,
        serial_no="S1",
        year=at.year,
        commodity_code=code,
        commodity_name="小麦",
        unit="千克",
        total_quantity=Decimal(qty),
        total_value_usd=Decimal(usd),
        trade_mode="0110",
        trade_country="AUS",
        issuing_agency="MOFCOM-BJ",
        commodity_category=category,
    )
    return ReviewResultReceived(
        application_id="app-1",
        form_no="F1",
        stage=stage,  # type: ignore[arg-type]
        result=result,  # type: ignore[arg-type]
        reviewed_at=at,
        application=summary if with_summary else None,
    )


@pytest.mark.parametrize(
    ("utc", "month"),
    [
        ("2025-03-31T16:30:00+00:00", "2025-04"),  # 00:30 on 1 April in Beijing
        ("2025-03-31T15:59:59+00:00", "2025-03"),
        ("2025-12-31T16:00:00+00:00", "2026-01"),  # a new year in China
        ("2025-05-01T00:00:00+08:00", "2025-05"),
        ("2025-04-30T23:59:59-05:00", "2025-05"),
    ],
)
def test_month_is_the_local_date_in_china(utc: str, month: str) -> None:
    assert china_month(datetime.fromisoformat(utc)) == month


def test_naive_time_is_refused() -> None:
    with pytest.raises(NotCountable, match="UTC offset"):
        china_month(datetime(2025, 1, 1))


def test_only_passed_second_reviews_are_approvals() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    assert is_approval(review(at))
    assert not is_approval(review(at, stage="first"))
    assert not is_approval(review(at, result="rejected"))


def test_contribution_carries_dimensions_and_category_fallback() -> None:
    c = contribution("app-1", review(datetime(2025, 3, 31, 16, 30, tzinfo=UTC)))
    assert c.month == "2025-04" and c.category == "HS10"
    assert c.dims() == ["1100776367555", "2025-04", "MOFCOM-BJ", "0110", "AUS", "1001991000", "千克"]
    explicit = contribution("app-1", review(datetime(2025, 1, 5, tzinfo=UTC), category="粮食"))
    assert explicit.category == "粮食"


def test_uncountable_approvals_name_the_problem() -> None:
    at = datetime(2025, 1, 5, tzinfo=UTC)
    with pytest.raises(NotCountable, match="no application summary"):
        contribution("a", review(at, with_summary=False))
    with pytest.raises(NotCountable, match="enterprise_code"):
        contribution("a", review(at, enterprise=""))
    with pytest.raises(NotCountable, match="negative"):
        contribution("a", review(at, qty="-1"))


C = contribution("app-1", review(datetime(2025, 2, 3, tzinfo=UTC)))


def test_first_approval_is_counted() -> None:
    d = decide(C, partition=2, offset=10, seen=None, figure=None)
    assert d.outcome == "counted"
    assert d.approval_record == {"p": 2, "o": 10, "month": "2025-02"}
    assert d.figure_record is not None
    assert (d.figure_record["quantity"], d.figure_record["amount_usd"]) == ("10.5", "100.25")
    assert (d.figure_record["count"], d.figure_record["upto"]) == (1, 10)


def test_adds_to_existing_figures() -> None:
    fig = {"quantity": "1.5", "amount_usd": "2", "count": 3, "upto": 7, "name": "x"}
    d = decide(C, partition=2, offset=10, seen=None, figure=fig)
    assert d.figure_record is not None
    assert (d.figure_record["quantity"], d.figure_record["amount_usd"], d.figure_record["count"]) == (
        "12.0",
        "102.25",
        4,
    )


def test_another_event_for_a_counted_application_is_a_duplicate() -> None:
    d = decide(C, partition=2, offset=11, seen={"p": 2, "o": 10}, figure={"upto": 10, "count": 1})
    assert (d.outcome, d.approval_record, d.figure_record) == ("duplicate", None, None)


def test_redelivery_after_both_writes_landed_changes_nothing() -> None:
    d = decide(
        C,
        partition=2,
        offset=10,
        seen={"p": 2, "o": 10},
        figure={"upto": 10, "count": 1, "quantity": "1", "amount_usd": "1"},
    )
    assert (d.outcome, d.approval_record, d.figure_record) == ("already_folded", None, None)


def test_redelivery_when_only_the_figures_write_landed_writes_the_approval_only() -> None:
    d = decide(C, partition=2, offset=10, seen=None, figure={"upto": 12, "count": 5})
    assert d.outcome == "already_folded" and d.figure_record is None
    assert d.approval_record == {"p": 2, "o": 10, "month": "2025-02"}


def test_redelivery_when_only_the_approval_write_landed_folds_the_figures() -> None:
    fig = {"upto": 4, "count": 1, "quantity": "1", "amount_usd": "1"}
    d = decide(C, partition=2, offset=10, seen={"p": 2, "o": 10}, figure=fig)
    assert d.outcome == "counted" and d.approval_record is None
    assert d.figure_record is not None and d.figure_record["count"] == 2


def test_figure_key_starts_with_the_partition() -> None:
    assert figure_key(3, C).startswith("[3,")
    assert figure_key(3, C) != figure_key(4, C)


def test_key_partition_reads_the_partition_of_any_key() -> None:
    odd = replace(C, enterprise_code='1,"2', commodity_name="铁矿砂", unit="千克,吨")
    for partition in (0, 3, 11, 127):
        for c in (C, odd):
            key = figure_key(partition, c)
            assert key_partition(key) == json.loads(key)[0] == partition
    for bad in ("", "3,x", '{"p":1}'):
        with pytest.raises(ValueError):
            key_partition(bad)


def _rec(enterprise: str, month: str, code: str, q: str, a: str, n: int, **dims: str) -> dict[str, object]:
    return {
        "dims": [
            enterprise,
            month,
            dims.get("agency", "BJ"),
            dims.get("mode", "0110"),
            dims.get("country", "AUS"),
            code,
            dims.get("unit", "千克"),
        ],
        "name": f"name-{code}",
        "category": dims.get("category", "HS10"),
        "quantity": q,
        "amount_usd": a,
        "count": n,
        "upto": 1,
    }


RECORDS = [
    _rec("E1", "2025-01", "1001", "1", "10", 1),
    _rec("E1", "2025-03", "1001", "2", "20", 2),
    _rec("E1", "2025-03", "1001", "4", "40", 1, agency="SH"),  # another shard/agency, same row
    _rec("E1", "2025-04", "1001", "8", "80", 1),  # after the asked month
    _rec("E1", "2024-12", "1001", "16", "160", 1),  # last year
    _rec("E1", "2025-03", "2601", "32", "320", 1, unit="吨", category="HS26"),
    _rec("E2", "2025-03", "1001", "64", "640", 1),  # another tenant
]


def test_month_and_year_to_date_per_commodity_for_the_tenant_only() -> None:
    rows = monthly_rows(RECORDS, MonthlyQuery("2025-03"), ["E1"])
    assert [(r.commodity_code, r.unit) for r in rows] == [("1001", "千克"), ("2601", "吨")]
    wheat = rows[0]
    assert (wheat.month.quantity, wheat.month.amount_usd, wheat.month.count) == (Decimal(6), Decimal(60), 3)
    assert (wheat.year_to_date.quantity, wheat.year_to_date.count) == (Decimal(7), 4)
    assert wheat.commodity_name == "name-1001"


def test_filters() -> None:
    rows = monthly_rows(RECORDS, MonthlyQuery("2025-03", issuing_agency="SH"), ["E1"])
    assert [(r.commodity_code, r.month.count, r.year_to_date.count) for r in rows] == [("1001", 1, 1)]
    rows = monthly_rows(RECORDS, MonthlyQuery("2025-03", commodity_category="HS26"), ["E1", "E2"])
    assert [r.commodity_code for r in rows] == ["2601"]
    assert monthly_rows(RECORDS, MonthlyQuery("2025-03", trade_country="BRA"), ["E1"]) == []
    assert monthly_rows(RECORDS, MonthlyQuery("2025-03"), []) == []


def test_a_commodity_with_figures_only_earlier_in_the_year_has_a_zero_month() -> None:
    rows = monthly_rows(RECORDS, MonthlyQuery("2025-02"), ["E1"])
    assert len(rows) == 1 and rows[0].month.count == 0 and rows[0].year_to_date.count == 1


def test_csv_has_a_header_and_one_line_per_row() -> None:
    text = rows_csv(monthly_rows(RECORDS, MonthlyQuery("2025-03"), ["E1"]))
    lines = list(csv.reader(io.StringIO(text)))
    assert tuple(lines[0]) == CSV_COLUMNS
    assert lines[1] == ["1001", "name-1001", "千克", "6", "60", "3", "7", "70", "4"]
    assert len(lines) == 3


def test_other_offsets_in_china_are_irrelevant() -> None:
    beijing = timezone(timedelta(hours=8))
    assert china_month(datetime(2025, 1, 31, 23, 59, tzinfo=beijing)) == "2025-01"


def test_the_catalogue_category_tells_iron_ore_from_copper_ore_and_the_grouping_filters() -> None:
    records = [
        _rec("E1", "2025-03", "2601110000", "1", "1", 1, category="iron_ore"),
        _rec("E1", "2025-03", "2603000010", "1", "1", 1, category="copper_concentrate"),
        {**_rec("E1", "2025-03", "2701120010", "1", "1", 1, category="coal"), "grouping": "煤炭"},
    ]
    records[0]["grouping"] = records[1]["grouping"] = "矿产品"

    def codes(**filters: str) -> list[str]:
        return [r.commodity_code for r in monthly_rows(records, MonthlyQuery("2025-03", **filters), ["E1"])]

    assert codes(commodity_category="iron_ore") == ["2601110000"]
    assert codes(commodity_category="HS26") == ["2601110000", "2603000010"]  # by the code's chapter
    assert codes(commodity_grouping="矿产品") == ["2601110000", "2603000010"]
    assert codes(commodity_grouping="煤炭") == ["2701120010"]


def test_query_problems_name_every_bad_parameter() -> None:
    from ail_shared.vocabulary import COMMODITY_CATEGORIES, COMMODITY_GROUPINGS
    from ail_stats.domain.figures import query_problems

    good = MonthlyQuery(
        "2025-03", commodity_category="iron_ore", commodity_grouping="煤炭", trade_country="601"
    )
    assert query_problems(good, COMMODITY_CATEGORIES, COMMODITY_GROUPINGS) == []
    assert (
        query_problems(
            MonthlyQuery("2025-03", commodity_category="HS26"), COMMODITY_CATEGORIES, COMMODITY_GROUPINGS
        )
        == []
    )
    bad = MonthlyQuery("2025-13", commodity_category="ore", commodity_grouping="rocks", trade_country="AUS")
    fields = [p.field for p in query_problems(bad, COMMODITY_CATEGORIES, COMMODITY_GROUPINGS)]
    assert fields == ["month", "commodity_category", "commodity_grouping", "trade_country"]


def test_a_replacement_counts_as_an_approval_without_goods_of_its_own() -> None:
    """A change or extension (issue 15) replaces a license whose goods were counted already."""
    event = review(datetime(2026, 5, 5, tzinfo=UTC))
    assert event.application is not None
    replacement = event.model_copy(
        update={"application": event.application.model_copy(update={"replaces_license_no": "26AANW0001"})}
    )
    c = contribution("app-2", replacement)
    assert (c.quantity, c.amount_usd, c.month) == (Decimal(0), Decimal(0), "2026-05")
    assert contribution("app-1", event).quantity == Decimal("10.5")
