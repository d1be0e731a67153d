"""The shared unit of work on the real database: state and events commit together or not at all,
and inside the consumer's transaction it is a savepoint of it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import ClassVar

import asyncpg
import pytest

from ail_shared.db import migrate_schema
from ail_shared.events import Event, SubmissionAccepted, utcnow
from ail_shared.unit_of_work import PgUnitOfWork


@pytest.fixture
async def schema(db: asyncpg.Pool) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    async with db.acquire() as conn:
        await migrate_schema(conn, name)
        await conn.execute(f"CREATE TABLE {name}.things (id text PRIMARY KEY)")
    yield name
    async with db.acquire() as conn:
        await conn.execute(f"DROP SCHEMA {name} CASCADE")


@dataclass
class Thing:
    id: str
    events: list[Event] = field(default_factory=list)

    @property
    def aggregate_id(self) -> str:
        return self.id

    @property
    def tenant(self) -> str:
        return "1100776367555"


def _uow_class(schema_name: str) -> type[PgUnitOfWork]:
    class ThingsUnitOfWork(PgUnitOfWork):
        schema: ClassVar[str] = schema_name
        topic: ClassVar[str | None] = "ail.test"

    return ThingsUnitOfWork


def _accepted(thing_id: str) -> SubmissionAccepted:
    return SubmissionAccepted(application_id=thing_id, submission_id="s1", form_no="F1", applied_at=utcnow())


async def _count(db: asyncpg.Pool, sql: str) -> int:
    async with db.acquire() as conn:
        return int(await conn.fetchval(sql))


async def test_state_and_events_commit_together(db: asyncpg.Pool, schema: str) -> None:
    uow = _uow_class(schema)(db)
    async with uow:
        await uow.connection.execute(f"INSERT INTO {schema}.things VALUES ('a')")
        thing = Thing("a", [_accepted("a")])
        uow.track(thing)
    assert thing.events == []
    assert await _count(db, f"SELECT count(*) FROM {schema}.things") == 1
    assert await _count(db, f"SELECT count(*) FROM {schema}.outbox WHERE topic = 'ail.test'") == 1


async def test_a_failing_handler_writes_neither(db: asyncpg.Pool, schema: str) -> None:
    uow = _uow_class(schema)(db)
    with pytest.raises(RuntimeError):
        async with uow:
            await uow.connection.execute(f"INSERT INTO {schema}.things VALUES ('b')")
            uow.track(Thing("b", [_accepted("b")]))
            raise RuntimeError("the aggregate refused")
    assert await _count(db, f"SELECT count(*) FROM {schema}.things") == 0
    assert await _count(db, f"SELECT count(*) FROM {schema}.outbox") == 0


async def test_on_an_open_transaction_it_is_a_savepoint_of_it(db: asyncpg.Pool, schema: str) -> None:
    async with db.acquire() as conn:
        outer = conn.transaction()
        await outer.start()
        async with _uow_class(schema)(conn) as uow:
            uow.track(Thing("c", [_accepted("c")]))
            await uow.connection.execute(f"INSERT INTO {schema}.things VALUES ('c')")
        await outer.rollback()  # the consumer's transaction failed: the handler's work goes too
    assert await _count(db, f"SELECT count(*) FROM {schema}.things") == 0
    assert await _count(db, f"SELECT count(*) FROM {schema}.outbox") == 0
