"""The statistics service's event handler (the fold) and the agent's dispatch, on in-memory
tables (``fakes.py``): no faust, no Kafka. The handler is found through ``EVENT_HANDLERS``, as the
agent finds it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ail_shared.events import (
    ApplicationSummary,
    Envelope,
    LicenseIssued,
    ReviewResultReceived,
    envelope_for,
)
from ail_stats.domain.figures import NotCountable, figure_key
from ail_stats.entrypoints.consumers import Fold, Record
from ail_stats.service_layer.handlers import EVENT_HANDLERS
from tests.unit.stats.fakes import FakeDeadLetters, FakeTables

ENTERPRISE = "1100776367555"
APPROVED_AT = datetime(2025, 3, 31, 16, 30, tzinfo=UTC)  # 1 April in Beijing


def review(
    app_id: str = "app-1",
    *,
    stage: str = "second",
    result: str = "passed",
    qty: str = "10.5",
    usd: str = "100.25",
) -> ReviewResultReceived:
    return ReviewResultReceived(
        application_id=app_id,
        form_no="F1",
        stage=stage,  # type: ignore[arg-type]
        result=result,  # type: ignore[arg-type]
        reviewed_at=APPROVED_AT,
        license_no="25AA0001" if result == "passed" else None,
        application=ApplicationSummary(
            enterprise_code=ENTERPRISE,
            serial_no="S1",
            year=2025,
            commodity_code="1001991000",
            commodity_name="小麦",
            unit="千克",
            total_quantity=Decimal(qty),
            total_value_usd=Decimal(usd),
            trade_mode="0110",
            trade_country="AUS",
            issuing_agency="MOFCOM-BJ",
        ),
    )


def env_of(event: ReviewResultReceived) -> Envelope:
    return envelope_for(event, aggregate_id=event.application_id, tenant=ENTERPRISE)


async def fold(
    tables: FakeTables, event: ReviewResultReceived, *, partition: int = 2, offset: int = 10
) -> str:
    handler = EVENT_HANDLERS[type(event)]
    outcome: str = await handler(tables.uow(partition=partition, offset=offset), event, env_of(event))
    return outcome


def figures(tables: FakeTables) -> list[dict[str, Any]]:
    return list(tables.figures.rows.values())


def test_the_fold_is_keyed_by_event_type() -> None:
    assert set(EVENT_HANDLERS) == {ReviewResultReceived}


async def test_an_approval_adds_its_quantity_amount_and_one_count_in_its_china_month() -> None:
    tables = FakeTables()
    assert await fold(tables, review()) == "counted"
    (fig,) = figures(tables)
    assert fig["dims"] == [ENTERPRISE, "2025-04", "MOFCOM-BJ", "0110", "AUS", "1001991000", "千克"]
    assert (fig["quantity"], fig["amount_usd"], fig["count"], fig["upto"]) == ("10.5", "100.25", 1, 10)
    assert tables.approvals.rows["app-1"] == {"p": 2, "o": 10, "month": "2025-04"}
    # the figure first, then the approval: a crash between them is recognised by the watermark
    assert (tables.figures.writes, tables.approvals.writes) == ([figure_key(2, _c())], ["app-1"])


def _c() -> Any:
    from ail_stats.domain.figures import contribution

    return contribution("app-1", review())


async def test_two_approvals_of_one_commodity_add_up() -> None:
    tables = FakeTables()
    await fold(tables, review("app-1"), offset=10)
    await fold(tables, review("app-2", qty="1.5", usd="0.75"), offset=11)
    (fig,) = figures(tables)
    assert (fig["quantity"], fig["amount_usd"], fig["count"], fig["upto"]) == ("12.0", "101.00", 2, 11)


@pytest.mark.parametrize(
    ("stage", "result"), [("first", "passed"), ("first", "rejected"), ("second", "rejected")]
)
async def test_review_results_that_do_not_approve_add_nothing(stage: str, result: str) -> None:
    tables = FakeTables()
    assert await fold(tables, review(stage=stage, result=result)) == "ignored"
    assert figures(tables) == [] and tables.approvals.rows == {}


async def test_a_second_approval_event_of_a_counted_application_is_a_duplicate() -> None:
    tables = FakeTables()
    await fold(tables, review(), offset=10)
    assert await fold(tables, review(qty="999"), offset=11) == "duplicate"
    assert figures(tables)[0]["count"] == 1 and figures(tables)[0]["quantity"] == "10.5"


async def test_the_same_message_redelivered_after_a_crash_is_folded_once() -> None:
    tables = FakeTables()
    await fold(tables, review(), offset=10)
    del tables.approvals.rows["app-1"]  # the crash came between the two changelog writes
    assert await fold(tables, review(), offset=10) == "already_folded"
    assert figures(tables)[0]["count"] == 1
    assert tables.approvals.rows["app-1"] == {"p": 2, "o": 10, "month": "2025-04"}  # written now


async def test_an_approval_without_its_summary_cannot_be_counted() -> None:
    tables = FakeTables()
    event = review().model_copy(update={"application": None})
    with pytest.raises(NotCountable, match="no application summary"):
        await fold(tables, event)
    assert figures(tables) == []


# ------------------------------------------------------------------ the agent's dispatch


def record(env: Envelope | bytes, *, partition: int = 2, offset: int = 10) -> Record:
    value = env if isinstance(env, bytes) else env.to_bytes()
    return Record("ail.submission", partition, offset, b"k", value, [])


def folder(tables: FakeTables) -> tuple[Fold, FakeDeadLetters]:
    dead = FakeDeadLetters()

    async def no_sleep(_: float) -> None:
        return None

    return Fold(tables.approvals, tables.figures, dead, sleep=no_sleep), dead


async def test_the_agent_folds_approvals_and_skips_other_event_types() -> None:
    tables = FakeTables()
    agent, dead = folder(tables)
    await agent.fold_one(record(env_of(review())))
    other = LicenseIssued(
        application_id="app-1",
        enterprise_code=ENTERPRISE,
        form_no="F1",
        license_no="L1",
        issued_at=APPROVED_AT,
        valid_until=APPROVED_AT.date(),
        commodity_code="1001991000",
        quantity=Decimal(1),
        one_batch_one_license=False,
    )
    await agent.fold_one(record(envelope_for(other, aggregate_id="app-1", tenant=ENTERPRISE), offset=11))
    await agent.fold_one(record(env_of(review()), offset=12))
    s = agent.stats
    assert (s.counted, s.ignored, s.duplicates, s.dead_letters) == (1, 1, 1, 0) and dead.sent == []


async def test_what_can_never_be_counted_goes_to_the_dead_letter_topic_with_the_reason() -> None:
    tables = FakeTables()
    agent, dead = folder(tables)
    no_summary = review().model_copy(update={"application": None})
    await agent.fold_one(record(env_of(no_summary)))
    await agent.fold_one(record(b"not json", offset=11))
    newer = json.loads(env_of(review("app-3")).to_bytes())
    newer["schema_version"] = "9.0"
    await agent.fold_one(record(json.dumps(newer).encode(), offset=12))
    reasons = [reason for _, reason in dead.sent]
    assert reasons[0].startswith("not_countable: approval carries no application summary")
    assert len(reasons) == 3 and all(reason for reason in reasons)
    assert [rec.offset for rec, _ in dead.sent] == [10, 11, 12]
    assert agent.stats.dead_letters == 3 and figures(tables) == []


async def test_a_fold_that_keeps_failing_is_not_acked() -> None:
    tables = FakeTables()
    agent, _ = folder(tables)

    def broken(key: str, record: dict[str, Any]) -> None:
        raise OSError("changelog producer gone")

    tables.figures.put = broken  # type: ignore[method-assign]
    assert await agent.fold_with_retries(record(env_of(review()))) is False
    assert "changelog producer gone" in agent.stats.last_error and agent.stats.counted == 0
