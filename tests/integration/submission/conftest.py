"""Fixtures of the submission tests: the signer (the stack's real signer process when it runs,
else the test-only stand-in), the MOFCOM sandbox's control API, and bound e-keys."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator
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
def signer(stack: dict[str, str]) -> Iterator[Signer]:
    """The signer host. The stack's own signer (pid file ``run/signer.pid``) when it runs; the
    stand-in otherwise, started here and stopped at the end of the session."""
    state = Path(stack.get("AIL_DEVSTACK_DIR", REPO / ".devstack" / "test"))
    pidfile = state / "run" / "signer.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text().split()[0])
        if _pid_alive(pid):
            yield Signer(stack=stack, pidfile=pidfile, real=True)
            return
    log = state / "logs" / "standin-signer.log" if (state / "logs").exists() else state / "standin-signer.log"
    standin_pid = state / "run" / "standin-signer.pid"
    standin_pid.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **stack, "PYTHONUNBUFFERED": "1"}
    s = Signer(stack=stack, pidfile=standin_pid, real=False, log=log, env=env)
    s.start()
    yield s
    pid = s.pid()  # a stand-in: no state worth a graceful stop
    if pid and _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


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
