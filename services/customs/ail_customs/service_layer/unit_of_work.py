"""The customs service's unit of work: one transaction over its repositories; the events of the
licenses it tracks (``CustomsStored``, ``Clearance*``) go to ``ail.customs`` through the outbox in
that same transaction.

:class:`UnitOfWork` is what handlers see (a Protocol); :class:`CustomsUnitOfWork` is the
PostgreSQL one (``ail_shared.unit_of_work.PgUnitOfWork``), ``tests/unit/customs/fakes.py`` the
in-memory one.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

import asyncpg

from ail_customs.adapters.repository import (
    SCHEMA,
    ApplicationRepository,
    ApplicationStore,
    DeclarationRepository,
    DeclarationStore,
    FeedRepository,
    FeedStore,
    HistoryRepository,
    HistoryStore,
    LicenseRepository,
    LicenseStore,
    OpsActionRepository,
    OpsActionStore,
)
from ail_shared import topics
from ail_shared.unit_of_work import Aggregate, PgUnitOfWork


class UnitOfWork(Protocol):
    # Read-only to the handlers (properties), so a unit of work may hold any implementation.
    @property
    def applications(self) -> ApplicationStore: ...

    @property
    def licenses(self) -> LicenseStore: ...

    @property
    def declarations(self) -> DeclarationStore: ...

    @property
    def feed(self) -> FeedStore: ...

    @property
    def history(self) -> HistoryStore: ...

    @property
    def ops_actions(self) -> OpsActionStore: ...

    def track(self, aggregate: Aggregate) -> None:
        """Write the aggregate's recorded events to the outbox on commit."""

    def license_due(self) -> None:
        """A license became due for delivery: wake the delivery worker once this commits."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class CustomsUnitOfWork(PgUnitOfWork):
    schema = SCHEMA
    topic = topics.CUSTOMS

    applications: ApplicationRepository
    licenses: LicenseRepository
    declarations: DeclarationRepository
    feed: FeedRepository
    history: HistoryRepository
    ops_actions: OpsActionRepository

    def __init__(
        self, source: asyncpg.Pool | asyncpg.Connection, *, on_license_due: Callable[[], None] | None = None
    ) -> None:
        super().__init__(source)
        self._on_license_due = on_license_due
        self._due = False

    def bind(self, conn: asyncpg.Connection) -> None:
        self.applications = ApplicationRepository(conn)
        self.licenses = LicenseRepository(conn)
        self.declarations = DeclarationRepository(conn)
        self.feed = FeedRepository(conn)
        self.history = HistoryRepository(conn)
        self.ops_actions = OpsActionRepository(conn)
        self._due = False

    def license_due(self) -> None:
        self._due = True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        due = self._due and exc_type is None
        await super().__aexit__(exc_type, exc, tb)
        if due and self._on_license_due is not None:
            self._on_license_due()
