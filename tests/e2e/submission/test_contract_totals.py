"""Contract against goods, end to end (issue 11): our validation and the MOFCOM sandbox call the
one rule (``ail_shared.formrules``: goods not above the contract). An application our validation
passes is approved by the sandbox in its default mode; one it refuses names the field and the
rule in Chinese with a code, at submit and in the application's ``problems``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.integration.application.support import complete_contract, complete_form
from tests.integration.submission.support import wait_status

CNY_PER_USD_ROUNDED_UP = Decimal("7.2")  # more yuan than any rate of the reference data asks


@pytest.fixture
async def mofcom_default(stack: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
    """The MOFCOM sandbox in its default mode (no fault, the default rules), before and after."""
    async with httpx.AsyncClient(base_url=stack["AIL_MOFCOM_URL"], timeout=10.0) as c:
        control = (await c.post("/control/reset")).json()
        yield control
        await c.post("/control/reset")


async def _draft(client: httpx.AsyncClient, **contract: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/applications", json=complete_form())
    assert r.status_code == 201, r.text
    app: dict[str, Any] = r.json()
    body = complete_contract(app["enterprise_code"], **contract)
    put = await client.put(f"/api/v1/applications/{app['id']}/contract", json=body)
    assert put.status_code == 200, put.text
    return app


def _plain(d: Decimal) -> str:
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _part(figure: str, share: str = "0.6") -> str:
    """A contract figure the goods use ``share`` of: the goods are below it."""
    return str((Decimal(figure) / Decimal(share)).quantize(Decimal("0.001")))


@pytest.mark.parametrize("settlement", ["USD", "CNY"])
async def test_goods_drawing_on_part_of_the_contract_are_approved_by_mofcom(
    enterprise_a: httpx.AsyncClient, mofcom_default: dict[str, Any], settlement: str
) -> None:
    assert mofcom_default["contract_totals_rule"] == "cover"
    probe = await _draft(enterprise_a)
    total_usd = Decimal(probe["total_value_usd"])
    amount = _part(str(total_usd)) if settlement == "USD" else _part(str(total_usd * CNY_PER_USD_ROUNDED_UP))
    app = await _draft(
        enterprise_a,
        total_quantity=_part(probe["total_quantity"]),
        total_amount=str(Decimal(amount).quantize(Decimal("0.01"))),
        settlement_currency=settlement,
    )
    view = (await enterprise_a.get(f"/api/v1/applications/{app['id']}")).json()
    assert view["problems"] == [], "our validation passes it"
    r = await enterprise_a.post(f"/api/v1/applications/{app['id']}/submit")
    assert r.status_code == 202, r.text
    done = await wait_status(
        enterprise_a,
        app["id"],
        "license_issued",
        "first_review_rejected",
        "second_review_rejected",
        timeout=90,
    )
    assert done["status"] == "license_issued", done["status_reason"]
    assert done["license_no"] and done["status_reason"] == "复审通过"


async def test_goods_above_the_contract_are_refused_naming_the_field_in_chinese_with_a_code(
    enterprise_a: httpx.AsyncClient, mofcom_default: dict[str, Any]
) -> None:
    probe = await _draft(enterprise_a)
    goods = Decimal(probe["total_quantity"])
    below = str(goods - 1)
    app = await _draft(enterprise_a, total_quantity=below, total_amount=probe["total_value_usd"])
    r = await enterprise_a.post(f"/api/v1/applications/{app['id']}/submit")
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert [(d["field"], d["code"]) for d in details] == [
        ("contract.foreign_contract.total_quantity", "contract_quantity_exceeded")
    ]
    reason = details[0]["reason"]
    assert reason.startswith(f"商品合计数量 {_plain(goods)} 超过对外成交合同总数量 {_plain(goods - 1)}"), (
        reason
    )
    assert not re.search("[A-Za-z]", reason), "Chinese only: the code travels beside it"

    view = (await enterprise_a.get(f"/api/v1/applications/{app['id']}")).json()
    assert view["status"] == "draft"
    assert view["problems"] == [
        {
            "field": "contract.foreign_contract.total_quantity",
            "reason": reason,
            "code": "contract_quantity_exceeded",
        }
    ]
