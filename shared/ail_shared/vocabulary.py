"""Words every service uses the same way (DOMAIN.md sections 3 and 4)."""

from __future__ import annotations

from enum import StrEnum

# The application's statuses and their order are in ail_shared.lifecycle, with the rules that use them.


class CustomsStatus(StrEnum):
    NOT_ARRIVED = "not_arrived"
    STORED = "stored"
    STORE_FAILED = "store_failed"
    SEND_FAILED = "send_failed"


# The commodity catalogue's categories (商品大类) and groupings (商品统计方式), as the application
# service's catalogue (ail_application/reference_data/catalogue.csv) writes them and carries them
# in ApplicationSummary; the statistics service filters by them. Here because two services use
# them; tests/unit/shared/test_vocabulary.py holds the catalogue to these lists.
COMMODITY_CATEGORIES = frozenset(
    {
        "alumina",
        "coal",
        "copper_concentrate",
        "crude_oil",
        "ddgs",
        "fertiliser",
        "iron_ore",
        "lead_free_solder",
        "refined_oil",
        "soybeans",
        "steel",
        "vegetable_oil",
    }
)
COMMODITY_GROUPINGS = frozenset({"矿产品", "煤炭", "原油", "成品油", "农产品", "化肥", "有色金属", "钢材"})
