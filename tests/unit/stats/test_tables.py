"""The figures table adapter's (enterprise, year) index, over a plain dict standing in for the
faust table: keys the agent writes are indexed at once, keys recovery wrote are found by a rebuild."""

from __future__ import annotations

import json
from typing import Any

from ail_stats.adapters.faust_app import FigureTable


def record(enterprise: str, month: str, code: str) -> tuple[str, dict[str, Any]]:
    dims = [enterprise, month, "BJ", "0110", "AUS", code, "千克"]
    return json.dumps([0, *dims]), {"dims": dims, "quantity": "1", "amount_usd": "1", "count": 1, "upto": 1}


def test_written_and_recovered_keys_are_both_found_by_enterprise_and_year() -> None:
    backing: dict[str, Any] = {}
    table = FigureTable(backing)
    table.put(*record("E1", "2025-03", "1001"))
    table.put(*record("E2", "2025-03", "1001"))
    assert [r["dims"][5] for r in table.records(["E1"], "2025")] == ["1001"]
    key, value = record("E1", "2025-07", "2601")
    backing[key] = value  # written by the changelog recovery, not through the adapter
    assert sorted(r["dims"][5] for r in table.records(["E1"], "2025")) == ["1001", "2601"]
    assert table.records(["E1"], "2024") == [] and len(table) == 3
