"""A tenant of a benchmark run's own that can submit: a fresh enterprise with its own API key and
an e-key of its own (a SoftHSM2 token in the stack's token directory, its certificate naming the
enterprise, held by the stack's signer host and bound through the API), gone again afterwards.

``run_all.py --quick`` submits and signs with it, so that nothing it does lands on the demo
enterprises the tests beside it (and the chaos harness's statistics check) read: their lists,
histories, webhooks and statistics see nothing of the run.

The token is made the way ``./dev up`` makes the demo e-keys (``scripts/devstack/softhsm.py``,
``make_ekey``); the signer host finds it at its next scan (``AIL_SIGNER_RESCAN_SECONDS``, 2 s)
and announces it, ``POST /api/v1/ekey-bindings`` binds it (registering its certificate with
MOFCOM), and the application service learns the binding from EkeyBound. ``close`` unbinds it
(``DELETE /api/v1/ekey-bindings/{serial}``) and deletes the token."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if str(REPO / "scripts") not in sys.path:
    sys.path.append(str(REPO / "scripts"))

from devstack.softhsm import make_ekey  # noqa: E402  (the one home of how an e-key is made)
from devstack.table import EKey  # noqa: E402

from benchmarks.webhook_bench import fresh_enterprise  # noqa: E402

T = TypeVar("T")


@dataclass(frozen=True)
class Tenant:
    enterprise: str
    api_key: str
    label: str  # the token's label
    serial: str  # the token's serial (the e-key serial the platform knows)


def _softhsm_env(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "SOFTHSM2_CONF": env["SOFTHSM2_CONF"]}


async def _eventually(
    what: str, check: Callable[[], Awaitable[T]], timeout: float, interval: float = 0.2
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout:.0f} s (./dev status, ./dev logs signer)")
        await asyncio.sleep(interval)


async def open_tenant(env: dict[str, str], timeout: float = 60.0) -> Tenant:
    """A fresh enterprise whose own e-key is present on the stack's signer host and bound."""
    code, key = await fresh_enterprise(env["AIL_PG_DSN"])
    label = f"bench-{code}"
    with tempfile.TemporaryDirectory(prefix="ail-ekey-") as work:
        await asyncio.to_thread(
            make_ekey,
            EKey(label, code, f"基准 {code} e-key"),
            Path(work),
            Path(env["AIL_PKCS11_MODULE"]),
            _softhsm_env(env),
        )
    tenant = Tenant(code, key, label, "")
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=env["AIL_ENTRY_URL"], headers=headers, timeout=30) as client:

        async def announced() -> str:
            items = (await client.get("/api/v1/ekeys")).json().get("items", [])
            return str(items[0]["serial"]) if items else ""

        try:
            serial = await _eventually(f"the signer announces e-key {label}", announced, timeout)
            tenant = Tenant(code, key, label, serial)
            resp = await client.post("/api/v1/ekey-bindings", json={"ekey_serial": serial})
            if resp.status_code != 201:
                raise SystemExit(f"binding {serial} to {code}: HTTP {resp.status_code} {resp.text[:300]}")
            conn = await asyncpg.connect(env["AIL_PG_DSN"])
            try:

                async def known() -> bool:
                    return bool(
                        await conn.fetchval(
                            "SELECT 1 FROM application.ekey_bindings"
                            " WHERE enterprise_code = $1 AND ekey_serial = $2",
                            code,
                            serial,
                        )
                    )

                await _eventually(f"the application service learns the binding of {code}", known, timeout)
            finally:
                await conn.close()
        except BaseException:
            await close_tenant(env, tenant)
            raise
    print(f"own tenant {code}: e-key {label} (serial {serial}) present and bound", flush=True)
    return tenant


async def close_tenant(env: dict[str, str], tenant: Tenant, timeout: float = 60.0) -> None:
    """Unbind the tenant's e-key (its certificate withdrawn at MOFCOM) and delete its token.
    Call it once nothing of the tenant's is being signed or awaits MOFCOM's answer (the unbind
    answers 409 until then; it is retried until ``timeout``)."""
    problems: list[str] = []
    if tenant.serial:
        headers = {"Authorization": f"Bearer {tenant.api_key}"}
        async with httpx.AsyncClient(base_url=env["AIL_ENTRY_URL"], headers=headers, timeout=30) as client:
            deadline = time.monotonic() + timeout
            while True:
                resp = await client.delete(f"/api/v1/ekey-bindings/{tenant.serial}")
                if resp.status_code in (200, 404):  # 404: it never got bound
                    break
                if time.monotonic() > deadline:
                    problems.append(f"unbind {tenant.serial}: HTTP {resp.status_code} {resp.text[:300]}")
                    break
                await asyncio.sleep(0.5)
    cp = await asyncio.to_thread(
        subprocess.run,
        ["softhsm2-util", "--delete-token", "--token", tenant.label],
        env=_softhsm_env(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if cp.returncode != 0:
        problems.append(f"deleting token {tenant.label}: {(cp.stdout + cp.stderr).strip()[:300]}")
    if problems:
        raise SystemExit("; ".join(problems))
