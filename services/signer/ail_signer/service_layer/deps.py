"""The typed dependencies of the signer host, built by ``bootstrap`` at start-up and handed to
the routes through ``entrypoints.deps.SignerDeps``."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from ail_signer.config import Settings
from ail_signer.service_layer.host import SignerHost
from ail_signer.service_layer.unit_of_work import SignerUnitOfWork


@dataclass(frozen=True)
class Deps:
    settings: Settings
    pool: asyncpg.Pool
    host: SignerHost

    def uow(self, source: asyncpg.Pool | asyncpg.Connection | None = None) -> SignerUnitOfWork:
        """A unit of work on the pool, or on ``source`` (an open connection: a savepoint)."""
        return SignerUnitOfWork(source if source is not None else self.pool)
