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

Tests use the service's ``FakeUnitOfWork`` (``tests/unit/<service>/fakes.py``): the same
attributes over in-memory repositories, ``committed`` set on a clean exit, ``events`` collected.
"""

from __future__ import annotations

from collections.abc import Sequence
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


class PgUnitOfWork:
    schema: ClassVar[str]  # the service's database schema (its outbox table lives there)
    topic: ClassVar[str | None] = None  # where tracked aggregates' events go

    def __init__(self, source: asyncpg.Pool | asyncpg.Connection) -> None:
        self._source = source
        self._conn: asyncpg.Connection | None = None
        self._acquired = False
        self._tx: asyncpg.transaction.Transaction | None = None
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
        self._tx = self._conn.transaction()
        await self._tx.start()
        self.bind(self._conn)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._tx is not None and self._conn is not None
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
