"""The typed dependencies of the status service, built by ``bootstrap`` at start-up (the pool
exists only then) and handed to the routes through ``entrypoints.deps.StatusDeps``."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from ail_status.adapters.notifications import Notifications
from ail_status.config import Settings
from ail_status.service_layer.handlers import Context
from ail_status.service_layer.unit_of_work import StatusUnitOfWork


@dataclass(frozen=True)
class Deps:
    settings: Settings
    pool: asyncpg.Pool
    ctx: Context  # what the command handlers need besides the unit of work
    notifications: Notifications

    def uow(self, source: asyncpg.Pool | asyncpg.Connection | None = None) -> StatusUnitOfWork:
        """A unit of work on the pool, or on ``source`` (an open connection: a savepoint)."""
        return StatusUnitOfWork(
            source if source is not None else self.pool,
            default_retry_period=self.settings.webhook_retry_period_seconds,
        )
