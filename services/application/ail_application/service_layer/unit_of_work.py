"""Unit of work: one transaction; collects the aggregates' events and writes them to the outbox
in that same transaction."""

from __future__ import annotations

from types import TracebackType

import asyncpg

from ail_application.adapters.repository import SCHEMA, ApplicationRepository
from ail_application.domain.model import Application
from ail_shared import topics
from ail_shared.events import envelope_for
from ail_shared.outbox import write_events


class UnitOfWork:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.applications = ApplicationRepository(conn)
        self._seen: list[Application] = []
        self._tx: asyncpg.transaction.Transaction | None = None

    def track(self, app: Application) -> Application:
        self._seen.append(app)
        return app

    async def __aenter__(self) -> UnitOfWork:
        self._tx = self.conn.transaction()
        await self._tx.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._tx is not None
        if exc_type is not None:
            await self._tx.rollback()
            return
        try:
            await self.publish_events()
        except BaseException:
            await self._tx.rollback()
            raise
        await self._tx.commit()

    async def publish_events(self) -> None:
        items = []
        for app in self._seen:
            while app.events:
                event = app.events.pop(0)
                items.append(
                    (
                        topics.APPLICATION,
                        envelope_for(event, aggregate_id=str(app.id), tenant=app.enterprise_code),
                    )
                )
        await write_events(self.conn, schema=SCHEMA, items=items)
