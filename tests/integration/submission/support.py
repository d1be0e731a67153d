"""Helpers of the submission tests."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from tests.integration.application.support import complete_contract, complete_form
from tests.support import dev, eventually

REPO = Path(__file__).resolve().parents[3]
PAST_SUBMITTING = (
    "pending_first_review",
    "pending_second_review",
    "approved",
    "license_issued",
    "first_review_rejected",
    "second_review_rejected",
    "revoked",
)


def valid_form(**overrides: Any) -> dict[str, Any]:
    """A complete application form (issue 3's example data, DDGS)."""
    return complete_form(**overrides)


async def create_draft(
    client: httpx.AsyncClient,
    form: dict[str, Any] | None = None,
    *,
    contract: bool = True,
    quantity_off_by: Decimal = Decimal(0),
) -> str:
    """A draft that passes submission-time validation: the form, then a contract whose totals
    match the goods, unless ``quantity_off_by`` (a contract larger than the goods still passes
    ours and the sandbox's default rule; its "equal" fault mode rejects it at first review)."""
    resp = await client.post("/api/v1/applications", json=form or valid_form())
    assert resp.status_code == 201, resp.text
    app = resp.json()
    if contract:
        body = complete_contract(
            app["enterprise_code"],
            total_quantity=str(Decimal(app["total_quantity"]) + quantity_off_by),
            total_amount=app["total_value_usd"],
            settlement_currency="USD",
        )
        put = await client.put(f"/api/v1/applications/{app['id']}/contract", json=body)
        assert put.status_code == 200, put.text
    return str(app["id"])


async def create_drafts(
    client: httpx.AsyncClient, n: int, form: dict[str, Any] | None = None, *, contract: bool = True
) -> list[str]:
    """N drafts alike: one made field by field, the rest its copies (50 per call)."""
    template = await create_draft(client, form, contract=contract)
    ids = [template]
    while len(ids) < n:
        count = min(50, n - len(ids))
        resp = await client.post(f"/api/v1/applications/{template}/copies", json={"count": count})
        assert resp.status_code == 201, resp.text
        ids += [c["id"] for c in resp.json()["copies"]]
    return ids


async def get_app(client: httpx.AsyncClient, app_id: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/applications/{app_id}")
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


async def wait_status(
    client: httpx.AsyncClient, app_id: str, *statuses: str, timeout: float = 60.0
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        app = await get_app(client, app_id)
        return app if app["status"] in statuses else None

    return await eventually(check, timeout=timeout, interval=0.3, what=f"{app_id} in {statuses}")


async def wait_for_ekey(client: httpx.AsyncClient, serial: str, timeout: float = 30.0) -> None:
    async def present() -> bool:
        resp = await client.get("/api/v1/ekeys")
        return resp.status_code == 200 and any(k["serial"] == serial for k in resp.json()["items"])

    await eventually(present, timeout=timeout, what=f"e-key {serial} announced by a signer host")


async def statuses(db: asyncpg.Pool, ids: list[str]) -> dict[str, str]:
    rows = await db.fetch(
        "SELECT id, status FROM application.applications WHERE id = ANY($1::uuid[])", [UUID(i) for i in ids]
    )
    return {str(r["id"]): r["status"] for r in rows}


async def wait_all_past_submitting(
    db: asyncpg.Pool, ids: list[str], timeout: float = 120.0
) -> dict[str, str]:
    async def done() -> dict[str, str] | None:
        st = await statuses(db, ids)
        return st if all(st.get(i) in PAST_SUBMITTING for i in ids) else None

    return await eventually(done, timeout=timeout, interval=0.5, what=f"{len(ids)} applications accepted")


@dataclass
class Signer:
    """The stack's signer process (pid file run/signer.pid)."""

    stack: dict[str, str]
    pidfile: Path

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill9(self) -> None:
        pid = self.pid()
        assert pid, "no signer pid"
        dev("hold", "signer")  # the stack's supervisor must not start it again: start() does, by hand
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().split()[2] == "Z":
                        break
            except OSError:
                break
            time.sleep(0.05)

    def start(self) -> None:
        """Start the process the way ./dev does (own session, log appended, pid file written)."""
        env = {**os.environ, **self.stack, "PYTHONUNBUFFERED": "1"}
        state = Path(self.stack.get("AIL_DEVSTACK_DIR", REPO / ".devstack" / "test"))
        port = self.stack["AIL_SIGNER_URL"].rsplit(":", 1)[1].strip("/")
        env.update({"AIL_HTTP_PORT": port, "AIL_SERVICE_NAME": "signer"})
        argv = [str(REPO / ".venv" / "bin" / "python"), "-m", "ail_signer"]
        log = state / "logs" / "signer.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        # Detached the way ./dev does it (own session, log appended), through a shell that exits
        # at once, so the process is nobody's child here and outlives the test session cleanly.
        script = f"exec setsid {shlex.join(argv)} >> {shlex.quote(str(log))} 2>&1 < /dev/null & echo $!"
        out = subprocess.run(
            ["sh", "-c", script], env=env, cwd=REPO, capture_output=True, text=True, check=True
        )
        self.pidfile.write_text(f"{int(out.stdout.strip())}\n")
        url = self.stack["AIL_SIGNER_URL"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("the restarted signer did not become healthy within 60s")
