"""The figures table adapter's (enterprise, year) index, over a plain dict standing in for the
faust table: keys the agent writes are indexed at once, keys recovery wrote or dropped are found
by a rebuild after the recovery (faust's on_recover callback)."""

from __future__ import annotations

import json
import random
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


def test_a_rebalance_that_drops_as_many_keys_as_the_agent_adds_leaves_no_key_out() -> None:
    """faust's memory store drops the keys of partitions this worker lost when a recovery
    completes; the agent then writes new ones. The table's size alone cannot tell."""
    backing: dict[str, Any] = {}
    table = FigureTable(backing)
    old_key, old = record("E1", "2025-01", "1001")
    table.put(old_key, old)
    table.put(*record("E1", "2025-02", "1002"))
    assert len(table.records(["E1"], "2025")) == 2  # the index is built
    del backing[old_key]  # recovery completed: a partition handed to another replica
    table.recovered()  # faust's on_recover callback
    table.put(*record("E1", "2025-03", "1003"))  # same size as before
    assert sorted(r["dims"][5] for r in table.records(["E1"], "2025")) == ["1002", "1003"]


def test_the_index_matches_the_table_through_any_mix_of_writes_recoveries_and_drops() -> None:
    rng = random.Random(8)
    keys = [
        record(f"E{e}", f"2025-{m:02d}", f"{c:04d}") for e in (1, 2) for m in range(1, 13) for c in range(4)
    ]
    for _ in range(200):
        backing: dict[str, Any] = {}
        table = FigureTable(backing)
        for _ in range(200):
            key, value = rng.choice(keys)
            op = rng.random()
            if op < 0.5:
                table.put(key, value)
            elif op < 0.7:
                backing[key] = value  # recovery writes ...
                table.recovered()
            elif op < 0.85:
                backing.pop(key, None)  # ... or drops the keys of a partition gone elsewhere
                table.recovered()
            elif op < 0.95:
                got = sorted(json.dumps(r) for r in table.records(["E1", "E2"], "2025"))
                assert got == sorted(json.dumps(v) for v in backing.values())


def test_an_enterprise_named_twice_in_a_query_counts_once() -> None:
    table = FigureTable({})
    table.put(*record("E1", "2025-03", "1001"))
    assert len(table.records(["E1", "E1"], "2025")) == 1


async def test_a_faust_table_marks_the_index_stale_when_its_recovery_completes() -> None:
    import faust

    app = faust.App("test-figure-index", broker="kafka://127.0.0.1:1", store="memory://")
    faust_table = app.Table("figures", partitions=1, key_type=str)
    table = FigureTable(faust_table)
    first_key, first = record("E1", "2025-01", "1001")
    faust_table.data[first_key] = first  # the store, as recovery writes it
    table.recovered()
    assert len(table.records(["E1"], "2025")) == 1
    del faust_table.data[first_key]  # dropped when recovery completes ...
    second_key, second = record("E1", "2025-02", "1002")
    faust_table.data[second_key] = second  # ... and another written: the same size
    await faust_table.call_recover_callbacks()  # what faust runs after on_recovery_completed
    assert [r["dims"][5] for r in table.records(["E1"], "2025")] == ["1002"]
