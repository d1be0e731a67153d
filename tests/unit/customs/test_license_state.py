"""The license after issue (issue 15) in the customs service, on in-memory fakes: surrender,
cancellation by MOFCOM, used up, expiry, reissue (change or extension) and the replacement's
delivery after the old license's cancellation. Handlers are found through the tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ail_customs.domain.commands import (
    ApplyFeedPage,
    ExpireLicenses,
    RequestReissue,
    SurrenderLicense,
)
from ail_customs.domain.delivery import ResendPolicy
from ail_customs.domain.feed import FEED
from ail_customs.domain.model import LicenseRefused
from ail_customs.service_layer.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from ail_customs.service_layer.workers import Delivery
from ail_shared.calendar import china_date
from ail_shared.events import Event, LicenseCancellationReceived, LicenseIssued, envelope_for, parse_payload
from tests.unit.customs.fakes import FakeCustoms, FakeUnitOfWork

ENTERPRISE = "1100776367555"
LICENSE_NO = "26AANW0001"
POLICY = ResendPolicy(base_seconds=5, max_rounds=3)
NOW = datetime.now(UTC)
ISSUED = NOW - timedelta(days=2)
NEW_NO = "26AANW0002"


async def consume(uow: FakeUnitOfWork, event: Event) -> None:
    env = envelope_for(event, aggregate_id=getattr(event, "application_id", "a-1"), tenant=ENTERPRISE)
    await EVENT_HANDLERS[type(event)](uow, parse_payload(env), env)


async def handle(uow: FakeUnitOfWork, cmd: Any) -> Any:
    return await COMMAND_HANDLERS[type(cmd)](uow, cmd)


def declared(n: int, quantity: str, *, at: datetime) -> dict[str, Any]:
    return {
        "message_id": f"m{n}",
        "position": n,
        "kind": "declared",
        "declaration_no": f"D{n}",
        "license_no": LICENSE_NO,
        "declared_at": at.isoformat(),
        "port": "2200",
        "lines": [{"quantity": quantity}],
    }


async def feed(uow: FakeUnitOfWork, *messages: dict[str, Any]) -> None:
    cursor = uow.feed.cursors.get(FEED)
    after = cursor.position if cursor else 0
    await handle(uow, ApplyFeedPage(epoch="e1", after=after, messages=messages, expected=cursor))


def issued(
    *,
    license_no: str = LICENSE_NO,
    quantity: str = "1000",
    one_batch: bool = False,
    valid_until: date | None = None,
    issued_at: datetime = ISSUED,
    replaces: str | None = None,
    max_uses: int | None = None,
    application_id: str = "a-1",
) -> LicenseIssued:
    return LicenseIssued(
        application_id=application_id,
        enterprise_code=ENTERPRISE,
        form_no="F1",
        license_no=license_no,
        issued_at=issued_at,
        valid_until=valid_until or china_date(NOW) + timedelta(days=100),
        commodity_code="2601111000",
        commodity_name="铁矿砂",
        unit="千克",
        quantity=Decimal(quantity),
        one_batch_one_license=one_batch,
        replaces_license_no=replaces,
        max_uses=max_uses,
    )


async def licensed(**kw: object) -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    await consume(uow, issued(**kw))  # type: ignore[arg-type]
    return uow


def surrender(reason: str = "合同取消") -> SurrenderLicense:
    return SurrenderLicense(
        license_no=LICENSE_NO, enterprise_codes=(ENTERPRISE,), principal="u1", reason=reason
    )


def reissue(license_no: str = LICENSE_NO) -> RequestReissue:
    return RequestReissue(license_no=license_no, enterprise_codes=(ENTERPRISE,), principal="u1")


def used(uow: FakeUnitOfWork, *quantities: str) -> list[dict[str, Any]]:
    return [declared(i + 1, q, at=ISSUED + timedelta(hours=i + 1)) for i, q in enumerate(quantities)]


# ------------------------------------------------------------------ surrender


async def test_an_unused_license_is_surrendered_once_and_customs_must_hear_of_it() -> None:
    uow = await licensed()
    lic = await handle(uow, surrender())
    assert (lic.state, lic.state_reason, lic.unused_quantity) == ("surrendered", "合同取消", Decimal(1000))
    row = uow.licenses.rows[LICENSE_NO]
    assert row.cancellation_status == "pending" and row.next_delivery_at is None
    await handle(uow, surrender())  # asked again: nothing new
    assert uow.event_types().count("LicenseSurrendered") == 1


async def test_a_used_license_is_not_surrendered_and_says_why() -> None:
    uow = await licensed()
    await feed(uow, *used(uow, "10"))
    with pytest.raises(LicenseRefused) as refused:
        await handle(uow, surrender())
    assert refused.value.code == "license_used" and refused.value.status_code == 409
    assert uow.licenses.rows[LICENSE_NO].state == "valid"


async def test_the_ledger_refuses_a_use_from_the_surrender_on_but_not_one_declared_before() -> None:
    uow = await licensed()
    await handle(uow, surrender())
    after = declared(1, "5", at=datetime.now(UTC) + timedelta(seconds=1))
    before = declared(2, "5", at=ISSUED + timedelta(hours=1))
    await feed(uow, after, before)
    assert uow.declarations.rows["D1"].refusal_reason == "license_surrendered"
    assert uow.declarations.rows["D2"].state == "recorded"  # declared while it was valid


# ------------------------------------------------------------------ MOFCOM, used up, expiry


async def test_mofcom_cancellation_cancels_once_and_a_repeat_changes_nothing() -> None:
    uow = await licensed()
    event = LicenseCancellationReceived(
        application_id="a-1", license_no=LICENSE_NO, reason="违规", cancelled_at=NOW
    )
    await consume(uow, event)
    await consume(uow, event)
    row = uow.licenses.rows[LICENSE_NO]
    assert (row.state, row.state_reason, row.state_detail) == ("cancelled", "mofcom", "违规")
    assert uow.event_types().count("LicenseCancelled") == 1
    assert row.cancellation_status == "pending"


async def test_the_last_use_makes_the_license_used_up_and_a_reversal_reopens_it() -> None:
    uow = await licensed(quantity="100")
    await feed(uow, *used(uow, "40", "60"))
    assert uow.licenses.rows[LICENSE_NO].state == "used_up"
    assert uow.event_types().count("LicenseUsedUp") == 1
    await feed(
        uow,
        {
            "message_id": "m3",
            "position": 3,
            "kind": "invalidated",
            "declaration_no": "D2",
            "license_no": LICENSE_NO,
            "occurred_at": NOW.isoformat(),
            "declared_at": NOW.isoformat(),
        },
    )
    assert uow.licenses.rows[LICENSE_NO].state == "valid"


async def test_the_expiry_sweep_expires_a_license_past_its_last_day_once_with_what_was_unused() -> None:
    uow = await licensed(valid_until=china_date(NOW) - timedelta(days=1), issued_at=NOW - timedelta(days=30))
    await feed(uow, declared(1, "300", at=NOW - timedelta(days=20)))
    assert await handle(uow, ExpireLicenses(limit=10)) == 1
    row = uow.licenses.rows[LICENSE_NO]
    assert (row.state, row.unused_quantity, row.cancellation_status) == ("expired", Decimal(700), None)
    assert await handle(uow, ExpireLicenses(limit=10)) == 0
    assert uow.event_types().count("LicenseExpired") == 1


async def test_a_license_valid_today_is_not_expired_nor_a_surrendered_one() -> None:
    uow = await licensed(valid_until=china_date(NOW))
    assert await handle(uow, ExpireLicenses(limit=10)) == 0
    await handle(uow, surrender())
    assert uow.licenses.rows[LICENSE_NO].state == "surrendered"


# ------------------------------------------------------------------ reissue (change or extension)


async def test_reissue_of_a_partly_used_license_offers_the_unused_quantity_and_remaining_uses_once() -> None:
    uow = await licensed()
    await feed(uow, *used(uow, "300", "100"))
    answer = await handle(uow, reissue())
    assert (answer.quantity, answer.uses, answer.created) == (Decimal(600), 4, True)
    again = await handle(uow, reissue())
    assert (again.application_id, again.created) == (answer.application_id, False)
    assert uow.event_types().count("LicenseReissueRequested") == 1


async def test_reissue_of_a_one_batch_license_not_used_keeps_its_one_use() -> None:
    uow = await licensed(one_batch=True)
    answer = await handle(uow, reissue())
    assert (answer.quantity, answer.uses) == (Decimal(1000), 1)


@pytest.mark.parametrize(
    ("quantities", "code"),
    [(("1000",), "license_used_up"), (("1", "1", "1", "1", "1", "1"), "license_used_up")],
    ids=["fully used", "no use left"],
)
async def test_reissue_of_a_license_with_nothing_left_is_refused(
    quantities: tuple[str, ...], code: str
) -> None:
    uow = await licensed()
    await feed(uow, *used(uow, *quantities))
    with pytest.raises(LicenseRefused) as refused:
        await handle(uow, reissue())
    assert refused.value.code == code


async def test_reissue_of_an_expired_license_is_refused() -> None:
    uow = await licensed(valid_until=china_date(NOW) - timedelta(days=1), issued_at=NOW - timedelta(days=30))
    with pytest.raises(LicenseRefused) as refused:
        await handle(uow, reissue())
    assert refused.value.code == "license_expired"


async def test_the_replacement_cancels_the_old_and_customs_gets_the_cancellation_before_the_new() -> None:
    uow = await licensed()
    await feed(uow, *used(uow, "300"))
    customs = FakeCustoms()
    step = Delivery(lambda: uow, customs, policy=POLICY)
    await step.step()  # the old license goes to Customs
    new_at = datetime.now(UTC)
    await consume(
        uow,
        issued(
            license_no=NEW_NO,
            quantity="700",
            replaces=LICENSE_NO,
            max_uses=5,
            issued_at=new_at,
            application_id="a-2",
        ),
    )
    old, new = uow.licenses.rows[LICENSE_NO], uow.licenses.rows[NEW_NO]
    assert (old.state, old.state_reason, old.replaced_by) == ("cancelled", "replaced", NEW_NO)
    assert new.next_delivery_at is None  # waits for the old one's cancellation
    await step.step()
    await step.step()
    assert customs.order == [("delivered", LICENSE_NO), ("cancelled", LICENSE_NO), ("delivered", NEW_NO)]
    assert uow.licenses.rows[LICENSE_NO].cancellation_status == "stored"
    assert customs.delivered[-1]["max_uses"] == 5
    # A declaration against the old license from the new one's issue on is refused.
    await feed(uow, declared(2, "10", at=new_at + timedelta(seconds=1)))
    assert uow.declarations.rows["D2"].refusal_reason == "license_cancelled"


async def test_a_use_of_the_old_license_between_the_draft_and_the_new_issue_caps_the_replacement() -> None:
    uow = await licensed()
    await feed(uow, *used(uow, "300"))
    await handle(uow, reissue())  # draft for 700, 5 uses
    await feed(uow, declared(2, "200", at=ISSUED + timedelta(hours=5)))  # the old one is still valid
    await consume(
        uow,
        issued(
            license_no=NEW_NO,
            quantity="700",
            replaces=LICENSE_NO,
            max_uses=5,
            issued_at=datetime.now(UTC),
            application_id="a-2",
        ),
    )
    new = uow.licenses.rows[NEW_NO]
    assert (new.quantity, new.ledger.max_uses) == (Decimal(500), 4)
    assert "license_replaces" in uow.history.kinds()


async def test_a_replacement_of_a_license_that_expired_meanwhile_goes_to_customs_at_once() -> None:
    uow = await licensed(valid_until=china_date(NOW) - timedelta(days=1), issued_at=NOW - timedelta(days=30))
    await handle(uow, ExpireLicenses(limit=10))
    await consume(
        uow,
        issued(license_no=NEW_NO, quantity="1000", replaces=LICENSE_NO, issued_at=NOW, application_id="a-2"),
    )
    assert uow.licenses.rows[LICENSE_NO].state == "expired"  # final: not cancelled again
    assert uow.licenses.rows[NEW_NO].next_delivery_at is not None


async def test_the_same_replacement_announced_twice_cancels_the_old_once() -> None:
    uow = await licensed()
    event = issued(
        license_no=NEW_NO, quantity="1000", replaces=LICENSE_NO, issued_at=NOW, application_id="a-2"
    )
    await consume(uow, event)
    await consume(uow, event)
    assert uow.event_types().count("LicenseCancelled") == 1
