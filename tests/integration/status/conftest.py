from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.integration.status.support import Enterprise, Publisher, Receiver, fresh_enterprise


@pytest.fixture(scope="session")
async def publisher(kafka_bootstrap: str) -> AsyncIterator[Publisher]:
    p = await Publisher(kafka_bootstrap).start()
    yield p
    await p.stop()


@pytest.fixture
async def enterprise(db: asyncpg.Pool) -> Enterprise:
    return await fresh_enterprise(db)


@pytest.fixture
async def enterprise_client(enterprise: Enterprise, entry_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with enterprise.client(entry_url) as c:
        yield c


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()
