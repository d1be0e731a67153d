"""Clients straight to the application service (the e2e tests go through the entry point)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.application.support import Make, complete_contract, complete_form
from tests.support import api_client


@pytest.fixture(scope="session")
def app_url(stack: dict[str, str]) -> str:
    return stack["AIL_APPLICATION_URL"]


@pytest.fixture
async def enterprise_a_direct(app_url: str, demo: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app_url, demo["enterprises"][0]["api_key"]) as c:
        yield c


@pytest.fixture
async def enterprise_b_direct(app_url: str, demo: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app_url, demo["enterprises"][1]["api_key"]) as c:
        yield c


@pytest.fixture
def make_draft(enterprise_a_direct: httpx.AsyncClient) -> Make:
    """Creates a draft for enterprise A; ``complete=True`` adds the contract too."""

    async def _make(
        client: httpx.AsyncClient | None = None, complete: bool = False, **form: Any
    ) -> dict[str, Any]:
        c = client or enterprise_a_direct
        r = await c.post("/api/v1/applications", json={**complete_form(), **form} if complete else form)
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        if complete:
            r = await c.put(f"/api/v1/applications/{body['id']}/contract", json=complete_contract())
            assert r.status_code == 200, r.text
        return body

    return _make
