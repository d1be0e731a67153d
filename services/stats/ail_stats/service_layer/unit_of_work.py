"""The statistics service's unit of work: the two faust tables, at one source position.

There is no database transaction here: every table write goes to the table's changelog
partition (the partition of the approval on ``ail.submission``), and faust acks the source offset
only after those writes were flushed (``adapters/faust_app.py``). What makes the fold exactly-once
is ``domain.figures.decide``, which recognises a redelivered approval through the tables. The unit
of work carries the position ``(partition, offset)`` that ``decide`` needs, so the handlers have
the same shape as every other service's: ``handler(uow, event, envelope)``.

:class:`UnitOfWork` is what handlers see; :class:`TablesUnitOfWork` is the faust one,
``tests/unit/stats/fakes.py`` the in-memory one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol, Self


class ApprovalStore(Protocol):
    def get(self, application_id: str) -> Mapping[str, Any] | None: ...

    def put(self, application_id: str, record: dict[str, Any]) -> None: ...


class FigureStore(Protocol):
    def get(self, key: str) -> Mapping[str, Any] | None: ...

    def put(self, key: str, record: dict[str, Any]) -> None: ...


class UnitOfWork(Protocol):
    @property
    def approvals(self) -> ApprovalStore: ...

    @property
    def figures(self) -> FigureStore: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class TablesUnitOfWork:
    """The faust tables at source position ``(partition, offset)``."""

    def __init__(
        self, approvals: ApprovalStore, figures: FigureStore, *, partition: int, offset: int
    ) -> None:
        self.approvals = approvals
        self.figures = figures
        self.partition = partition
        self.offset = offset

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Nothing to commit: faust flushes the changelog writes before it acks the offset.
        return None
