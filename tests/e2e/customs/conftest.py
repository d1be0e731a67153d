from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ail_shared.kafka import make_producer


@pytest.fixture(scope="session")
async def producer(kafka_bootstrap: str) -> AsyncIterator[Any]:
    p = make_producer(kafka_bootstrap)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def sandbox(stack: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack["AIL_CUSTOMS_URL"], timeout=10) as c:
        yield c
