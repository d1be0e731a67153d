"""The application service's unit of work: one transaction over its repositories; the recorded
events of the tracked applications go to ``ail.application`` through the outbox, in the same
transaction (``ail_shared.unit_of_work.PgUnitOfWork``).

On a pool, each ``async with uow:`` is a transaction of its own; on an open connection (the
consumer's, the idempotency record's, the relay's) it is a savepoint of that transaction."""

from __future__ import annotations

import asyncpg

from ail_application.adapters.repository import (
    SCHEMA,
    ApplicationRepository,
    AttachmentRepository,
    EkeyBindingRepository,
    KeyAgriFilingRepository,
)
from ail_shared import topics
from ail_shared.unit_of_work import PgUnitOfWork


class UnitOfWork(PgUnitOfWork):
    schema = SCHEMA
    topic = topics.APPLICATION

    applications: ApplicationRepository
    attachments: AttachmentRepository
    ekey_bindings: EkeyBindingRepository
    key_agri_filings: KeyAgriFilingRepository

    def bind(self, conn: asyncpg.Connection) -> None:
        self.applications = ApplicationRepository(conn)
        self.attachments = AttachmentRepository(conn)
        self.ekey_bindings = EkeyBindingRepository(conn)
        self.key_agri_filings = KeyAgriFilingRepository(conn)
