"""In-memory fakes of the statistics service's tables and dead-letter sender (the Protocols of
``service_layer/unit_of_work.py`` and ``entrypoints/consumers.py``): no faust, no Kafka."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ail_stats.entrypoints.consumers import Record
from ail_stats.service_layer.unit_of_work import TablesUnitOfWork


class FakeTable:
    """A faust table as the handlers use it; ``writes`` in order, as the changelog would get them."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.writes: list[str] = []

    def get(self, key: str) -> Mapping[str, Any] | None:
        row = self.rows.get(key)
        return copy.deepcopy(row) if row is not None else None

    def put(self, key: str, record: dict[str, Any]) -> None:
        self.rows[key] = copy.deepcopy(record)
        self.writes.append(key)


class FakeTables:
    def __init__(self) -> None:
        self.approvals = FakeTable()
        self.figures = FakeTable()

    def uow(self, *, partition: int = 0, offset: int = 0) -> TablesUnitOfWork:
        return TablesUnitOfWork(self.approvals, self.figures, partition=partition, offset=offset)


class FakeDeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[Record, str]] = []

    async def __call__(self, rec: Record, reason: str) -> None:
        self.sent.append((rec, reason))
