"""Fixtures of the submission tests: the stack's signer process, the MOFCOM sandbox's control
API, and bound e-keys."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.submission.support import REPO, Signer, wait_for_ekey


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="session")
def signer(stack: dict[str, str]) -> Signer:
    """The stack's signer host (pid file ``run/signer.pid``; ./dev always runs it)."""
    state = Path(stack.get("AIL_DEVSTACK_DIR", REPO / ".devstack" / "test"))
    pidfile = state / "run" / "signer.pid"
    if not (pidfile.exists() and _pid_alive(int(pidfile.read_text().split()[0]))):
        pytest.fail(f"the stack's signer is not running (no live pid in {pidfile}): ./dev start signer")
    return Signer(stack=stack, pidfile=pidfile)


@pytest.fixture
async def mofcom_sandbox(stack: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """The MOFCOM sandbox's control API; its faults and rules are reset after each test."""
    async with httpx.AsyncClient(base_url=stack["AIL_MOFCOM_URL"], timeout=10.0) as c:
        await c.post("/control/reset")
        yield c
        await c.post("/control/reset")


def ekey_serial(stack: dict[str, str], index: int) -> str:
    return stack["AIL_DEMO_EKEY_SERIALS"].split(",")[index]


@pytest.fixture
async def enterprise_a_ekey(
    enterprise_a: httpx.AsyncClient, stack: dict[str, str], signer: Signer, db: asyncpg.Pool
) -> str:
    """Enterprise A (1100776367555) with its e-key bound, and the binding known to the
    application service."""
    serial = ekey_serial(stack, 0)
    await wait_for_ekey(enterprise_a, serial)
    resp = await enterprise_a.post("/api/v1/ekey-bindings", json={"ekey_serial": serial})
    assert resp.status_code == 201, resp.text
    await _binding_known(db, "1100776367555", serial)
    return serial


@pytest.fixture
async def enterprise_b_ekey(
    enterprise_b: httpx.AsyncClient, stack: dict[str, str], signer: Signer, db: asyncpg.Pool
) -> str:
    serial = ekey_serial(stack, 1)
    await wait_for_ekey(enterprise_b, serial)
    resp = await enterprise_b.post("/api/v1/ekey-bindings", json={"ekey_serial": serial})
    assert resp.status_code == 201, resp.text
    await _binding_known(db, "3100123456789", serial)
    return serial


async def _binding_known(db: asyncpg.Pool, enterprise: str, serial: str) -> None:
    from tests.support import eventually

    async def known() -> Any:
        return await db.fetchval(
            "SELECT 1 FROM application.ekey_bindings WHERE enterprise_code = $1 AND ekey_serial = $2",
            enterprise,
            serial,
        )

    await eventually(known, what=f"application service learns the binding of {enterprise}")
