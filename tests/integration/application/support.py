"""Complete, submittable example data for application tests."""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

TODAY = date.today()


def unique_code() -> str:
    """A 13-digit import-user code no other test uses."""
    return f"9{random.randrange(10**11, 10**12)}"


def token() -> str:
    return uuid.uuid4().hex[:10]


def complete_form(commodity: str = "2303300010", **over: Any) -> dict[str, Any]:
    form = {
        "commodity_code": commodity,
        "handler_name": "张三",
        "import_user_code": unique_code(),
        "import_user_name": f"示例用户{token()}",
        "trade_country": "502",
        "origin_country": "502",
        "customs_ports": ["2200"],
        "expected_arrival_date": (TODAY + timedelta(days=40)).isoformat(),
        "goods": [
            {"spec": "蛋白≥26%", "unit": "070", "quantity": "1000", "unit_price": "250.5"},
            {"spec": "蛋白≥28%", "unit": "070", "quantity": "500.5", "unit_price": "260"},
        ],
        "remarks": "测试",
    }
    form.update(over)
    return form


def complete_contract(enterprise_code: str = "1100776367555", **fc: Any) -> dict[str, Any]:
    foreign = {
        "contract_no": f"C-{token()}",
        "foreign_party_name_en": "ADM Export",
        "signing_date": (TODAY - timedelta(days=30)).isoformat(),
        "expiry_date": (TODAY + timedelta(days=300)).isoformat(),
        "total_quantity": "5000",
        "total_amount": "2000000",
        "settlement_currency": "USD",
        "departure_date": (TODAY + timedelta(days=10)).isoformat(),
    }
    foreign.update(fc)
    return {
        "applicant": {
            "enterprise_code": enterprise_code,
            "name": "北京示例进出口有限公司",
            "uscc": "91110000776367555X",
            "address": "北京市朝阳区示例路1号",
            "contact": "李四",
            "phone": "010-12345678",
        },
        "foreign_contract": foreign,
        "other": {"import_change_band": "within_10"},
    }


def iron_ore_contract() -> dict[str, Any]:
    return {
        "origin_country": "601",
        "trade_country": "601",
        "contract_no": f"IO-{token()}",
        "contract_type": "long_term",
        "signing_date": (TODAY - timedelta(days=30)).isoformat(),
        "period_from": (TODAY - timedelta(days=30)).isoformat(),
        "period_to": (TODAY + timedelta(days=330)).isoformat(),
        "enterprise_nature": "trader",
        "seller_name_zh": "必和必拓",
        "discharge_ports": ["4200"],
        "freight_cfr": "12000",
        "lines": [
            {
                "category": "粉矿",
                "name": "PB粉",
                "grade_fe_pct": "61.5",
                "quantity_kt": "1.5",
                "unit_price_usd_per_kt": "105500",
            }
        ],
    }


Make = Callable[..., Awaitable[dict[str, Any]]]


async def set_status(db: Any, application_id: str, status: str, **cols: Any) -> None:
    sets = ", ".join(f"{k} = ${i + 3}" for i, k in enumerate(cols))
    await db.execute(
        f"UPDATE application.applications SET status = $2{', ' + sets if sets else ''} WHERE id = $1",
        application_id,
        status,
        *cols.values(),
    )
