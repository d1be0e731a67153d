from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ail_shared import topics
from tests.integration.signer.support import TopicWatch
from tests.support import service_headers


@pytest.fixture(scope="session")
async def stack_signer(stack: dict[str, str]) -> dict[str, Any]:
    """The stack's signer host: its id and the demo e-keys it holds."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        r = await client.get(f"{stack['AIL_SIGNER_URL']}/api/v1/signer/keys", headers=service_headers(stack))
        r.raise_for_status()
        data: dict[str, Any] = r.json()
    labels = stack["AIL_DEMO_EKEY_LABELS"].split(",")
    serials = stack["AIL_DEMO_EKEY_SERIALS"].split(",")
    data["demo"] = dict(zip(labels, serials, strict=True))
    assert {k["serial"] for k in data["keys"]} >= set(serials), "the stack's signer lacks the demo e-keys"
    return data


@pytest.fixture
async def signer_answers(kafka_bootstrap: str) -> AsyncIterator[TopicWatch]:
    async with TopicWatch(kafka_bootstrap, topics.SIGNER) as watch:
        yield watch


@pytest.fixture
async def signer_heartbeats(kafka_bootstrap: str) -> AsyncIterator[TopicWatch]:
    async with TopicWatch(kafka_bootstrap, topics.SIGNER_HEARTBEATS) as watch:
        yield watch


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
