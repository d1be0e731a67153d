"""Session fixtures. Integration and end-to-end tests use the real stack that ``./dev test``
starts once per run (Kafka, PostgreSQL, SoftHSM2, services, sandboxes, nginx)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, settings

from ail_shared.db import create_pool
from ail_shared.kafka import make_producer
from tests.support import MofcomScopes, api_client, stack_env
from tests.support import demo as load_demo

# Property tests judge behaviour, never speed: on a loaded 2-core CI machine input generation and
# examples can be slow, and Hypothesis' deadline and too_slow health check then fail good code.
settings.register_profile("ail", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ail")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "serial: changes the shared stack (kills, holds or restarts a component, or runs a second "
        "copy of a service); ./dev test runs these alone, after the parallel phase",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.fspath)
        if "/tests/integration/" in path:
            item.add_marker(pytest.mark.integration)
        elif "/tests/e2e/" in path:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def stack() -> dict[str, str]:
    env = stack_env()
    if env is None:
        pytest.fail("the test stack is not running: use ./dev test (or ./dev test --keep, then pytest)")
    return env


@pytest.fixture(scope="session")
def pg_dsn(stack: dict[str, str]) -> str:
    return stack["AIL_PG_DSN"]


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: dict[str, str]) -> str:
    return stack["AIL_KAFKA_BOOTSTRAP"]


@pytest.fixture(scope="session")
def entry_url(stack: dict[str, str]) -> str:
    return stack["AIL_ENTRY_URL"]


@pytest.fixture(scope="session")
def demo(stack: dict[str, str]) -> dict[str, Any]:
    return load_demo(stack)


@pytest.fixture(scope="session")
async def db(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(pg_dsn, min_size=1, max_size=10)
    yield pool
    await pool.close()


@pytest.fixture
async def enterprise_a(entry_url: str, demo: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(entry_url, demo["enterprises"][0]["api_key"]) as c:
        yield c


@pytest.fixture
async def enterprise_b(entry_url: str, demo: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(entry_url, demo["enterprises"][1]["api_key"]) as c:
        yield c


@pytest.fixture
async def agency(entry_url: str, demo: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(entry_url, demo["agency"]["api_key"]) as c:
        yield c


@pytest.fixture(scope="session")
async def kafka_producer(kafka_bootstrap: str) -> AsyncIterator[Any]:
    p = make_producer(kafka_bootstrap)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def customs_sandbox(stack: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """The Customs sandbox's control API (the MOFCOM sandbox's is ``mofcom_sandbox``)."""
    async with httpx.AsyncClient(base_url=stack["AIL_CUSTOMS_URL"], timeout=10) as c:
        yield c


@pytest.fixture
async def mofcom_scopes(stack: dict[str, str]) -> AsyncIterator[MofcomScopes]:
    """MOFCOM's behaviour for this test's own submissions (tests.support.MofcomScopes); the
    scopes are deleted afterwards. Safe in the parallel phase, unlike the global ``/control``."""
    async with httpx.AsyncClient(base_url=stack["AIL_MOFCOM_URL"], timeout=10.0) as c:
        scopes = MofcomScopes(c)
        try:
            yield scopes
        finally:
            await scopes.remove_all()
