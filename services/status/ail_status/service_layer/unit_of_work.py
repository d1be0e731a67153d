"""The status service's unit of work: one transaction over the lifecycle views and change log
(``views``) and the subscriptions and deliveries (``subscriptions``).

The status service publishes no events of its own (it has no outbox topic); what a change
pushes is queued as deliveries and NOTIFYs in the same transaction, sent at commit.
Tests use ``tests/unit/status/fakes.py``'s ``FakeUnitOfWork``.
"""

from __future__ import annotations

import asyncpg

from ail_shared.unit_of_work import PgUnitOfWork
from ail_status.adapters.repository import SCHEMA, StatusRepository
from ail_status.adapters.subscriptions import SubscriptionRepository


class StatusUnitOfWork(PgUnitOfWork):
    schema = SCHEMA
    views: StatusRepository
    subscriptions: SubscriptionRepository

    def __init__(self, source: asyncpg.Pool | asyncpg.Connection, *, default_retry_period: int) -> None:
        super().__init__(source)
        # the retry period of a delivery whose subscription sets none
        self.default_retry_period = default_retry_period

    def bind(self, conn: asyncpg.Connection) -> None:
        self.views = StatusRepository(conn, default_retry_period=self.default_retry_period)
        self.subscriptions = SubscriptionRepository(conn)
