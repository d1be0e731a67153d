"""The unit of work every service's handlers take: one database transaction in which the state
change and its events are written together (the outbox, ``ail_shared.outbox``).

A service subclasses :class:`PgUnitOfWork`, sets ``schema`` and ``topic`` (where its aggregates'
events go) and builds its repositories in :meth:`PgUnitOfWork.bind`. A handler does::

    async with uow:
        app = await uow.applications.get(application_id=..., tenant=...)
        app.submit(...)              # the aggregate decides and records its events
        uow.track(app)               # its events go to the outbox in this transaction

On a clean exit the tracked aggregates' events and anything :meth:`emit`-ted are written to the
outbox and the transaction commits; on an exception it rolls back and nothing is written.

The unit of work opens its transaction on a pool (a connection is taken for its lifetime) or on a
connection; a connection already in a transaction (the consumer's, which holds the inbox record)
gets a savepoint, so the handler's writes, the events and the inbox record commit together.

Inside a consumer's batch (``batch_scope``: one transaction for a whole poll, issue 16) a unit of
work on the batch's connection takes no savepoint (two round trips per event less): a failure
inside it is noted on the scope, and the consumer then rolls the whole batch back and applies it
one event at a time, where each unit of work has its savepoint again. So a handler that catches
its unit of work's failure and goes on still never commits half of that unit of work.

Tests use the service's ``FakeUnitOfWork`` (``tests/unit/<service>/fakes.py``): the same
attributes over in-memory repositories, ``committed`` set on a clean exit, ``events`` collected.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Protocol, Self

import asyncpg

from ail_shared.events import Envelope, Event, envelope_for
from ail_shared.outbox import write_events


class Aggregate(Protocol):
    """What the unit of work needs of an aggregate whose events it writes."""

    events: list[Event]

    @property
    def aggregate_id(self) -> str: ...

    @property
    def tenant(self) -> str: ...


@dataclass
class BatchScope:
    """A consumer's batch transaction on ``conn``: units of work on it take no savepoint;
    ``failed`` is the first failure inside one of them (the batch must then be rolled back)."""

    conn: asyncpg.Connection
    failed: BaseException | None = None


_BATCH: ContextVar[BatchScope | None] = ContextVar("ail_unit_of_work_batch", default=None)


@contextmanager
def batch_scope(conn: asyncpg.Connection) -> Iterator[BatchScope]:
    """Mark ``conn``'s open transaction as a consumer's batch (see the module doc)."""
    token = _BATCH.set(BatchScope(conn))
    try:
        scope = _BATCH.get()
        assert scope is not None
        yield scope
    finally:
        _BATCH.reset(token)


class PgUnitOfWork:
    schema: ClassVar[str]  # the service's database schema (its outbox table lives there)
    topic: ClassVar[str | None] = None  # where tracked aggregates' events go

    def __init__(self, source: asyncpg.Pool | asyncpg.Connection) -> None:
        self._source = source
        self._conn: asyncpg.Connection | None = None
        self._acquired = False
        self._tx: asyncpg.transaction.Transaction | None = None
        self._batch: BatchScope | None = None
        self._tracked: list[Aggregate] = []
        self._emitted: list[tuple[str, Envelope]] = []

    @property
    def connection(self) -> asyncpg.Connection:
        """The transaction's connection, for the service's adapters (never for entrypoints)."""
        if self._conn is None:
            raise RuntimeError("the unit of work is not entered: use `async with uow:`")
        return self._conn

    def bind(self, conn: asyncpg.Connection) -> None:
        """Build the repositories on ``conn`` (subclasses)."""

    def track(self, aggregate: Aggregate) -> None:
        """Write ``aggregate``'s recorded events to the outbox when the unit of work commits."""
        if not any(a is aggregate for a in self._tracked):
            self._tracked.append(aggregate)

    def route(self, aggregate: Aggregate, event: Event) -> tuple[str, str]:
        """Where a tracked aggregate's event goes: (topic, partition key). ``topic`` and the
        aggregate's id, unless a service whose aggregate speaks on several topics says otherwise."""
        if self.topic is None:
            raise RuntimeError(f"{type(self).__name__} tracks aggregates but names no topic")
        return self.topic, aggregate.aggregate_id

    def emit(self, topic: str, event: Event, *, aggregate_id: str, tenant: str) -> None:
        """An event that no tracked aggregate records (a service's own fact)."""
        self._emitted.append((topic, envelope_for(event, aggregate_id=aggregate_id, tenant=tenant)))

    def emit_envelope(self, topic: str, envelope: Envelope) -> None:
        """An event whose envelope the caller built (a relayed event keeps its id and time)."""
        self._emitted.append((topic, envelope))

    def collect(self) -> Sequence[tuple[str, Envelope]]:
        """Everything to write to the outbox, in the order it was recorded."""
        items: list[tuple[str, Envelope]] = []
        for aggregate in self._tracked:
            while aggregate.events:
                event = aggregate.events.pop(0)
                topic, key = self.route(aggregate, event)
                items.append((topic, envelope_for(event, aggregate_id=key, tenant=aggregate.tenant)))
        items.extend(self._emitted)
        self._emitted.clear()
        return items

    async def __aenter__(self) -> Self:
        if isinstance(self._source, asyncpg.Pool):
            self._conn = await self._source.acquire()
            self._acquired = True
        else:
            self._conn = self._source
        self._tracked, self._emitted = [], []
        scope = _BATCH.get()
        if scope is not None and scope.conn is self._conn and not self._acquired:
            self._batch = scope  # the batch's transaction holds it: no savepoint
        else:
            self._tx = self._conn.transaction()
            await self._tx.start()
        self.bind(self._conn)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._conn is not None
        if self._batch is not None:
            await self._exit_batch(exc)
            return
        assert self._tx is not None
        try:
            if exc_type is not None:
                await self._tx.rollback()
                return
            try:
                items = self.collect()
                if items:
                    await write_events(self._conn, schema=self.schema, items=list(items))
            except BaseException:
                await self._tx.rollback()
                raise
            await self._tx.commit()
        finally:
            self._tx = None
            if self._acquired and isinstance(self._source, asyncpg.Pool):
                await self._source.release(self._conn)
            self._conn, self._acquired = None, False

    async def _exit_batch(self, exc: BaseException | None) -> None:
        """Leave a unit of work of a consumer's batch: the events go to the outbox in the batch's
        transaction; a failure is noted on the scope (the batch is then applied again one event
        at a time) and propagates."""
        scope, conn = self._batch, self._conn
        assert scope is not None and conn is not None
        self._batch, self._conn = None, None
        if exc is not None:
            scope.failed = scope.failed or exc
            return
        try:
            items = self.collect()
            if items:
                await write_events(conn, schema=self.schema, items=list(items))
        except BaseException as failure:
            scope.failed = scope.failed or failure
            raise
