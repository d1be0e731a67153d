"""Helpers of the license-lifecycle tests (issue 15): a full application up to its license
(through the entry point, MOFCOM sandbox and all), and the customs service run by the test with
its own settings (a failpoint, a short expiry interval), then handed back to ``./dev``."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.integration.submission.support import create_draft, valid_form, wait_status
from tests.support import REPO, dev, eventually


async def issued_application(client: httpx.AsyncClient, form: dict[str, Any] | None = None) -> dict[str, Any]:
    """Draft, contract, submit: the application once its license is issued."""
    app_id = await create_draft(client, form or valid_form())
    r = await client.post(f"/api/v1/applications/{app_id}/submit")
    assert r.status_code == 202, r.text
    return await wait_status(client, app_id, "license_issued", timeout=120)


async def license_of(client: httpx.AsyncClient, license_no: str) -> dict[str, Any] | None:
    r = await client.get(f"/api/v1/licenses/{license_no}")
    return r.json() if r.status_code == 200 else None


async def wait_license(client: httpx.AsyncClient, license_no: str, **expected: Any) -> dict[str, Any]:
    """The customs service's view of the license once each ``expected`` field has its value."""

    async def check() -> dict[str, Any] | None:
        lic = await license_of(client, license_no)
        if lic is None or any(lic.get(k) != v for k, v in expected.items()):
            return None
        return lic

    return await eventually(check, timeout=90, interval=0.3, what=f"license {license_no} with {expected}")


async def sandbox_license(customs_sandbox: httpx.AsyncClient, license_no: str) -> dict[str, Any]:
    r = await customs_sandbox.get(f"/control/licenses/{license_no}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _pidfile(env: dict[str, str]) -> str:
    return os.path.join(env["AIL_DEVSTACK_DIR"], "run", "customs.pid")


async def _healthy(env: dict[str, str], pid: int | None = None) -> bool:
    if pid is not None:
        assert _pid_alive(pid), f"customs (pid {pid}) exited while starting: see its log"
    async with httpx.AsyncClient(base_url=env["AIL_CUSTOMS_SERVICE_URL"], timeout=5) as c:
        try:
            return (await c.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False


def _stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


@contextlib.asynccontextmanager
async def customs_with(env: dict[str, str], extra_env: dict[str, str]) -> AsyncIterator[int]:
    """The customs service started by the test the way ``./dev`` starts it (same command,
    environment and log), with ``extra_env`` on top; yields its pid. Afterwards (dead or alive)
    it is stopped and ``./dev start customs`` gives the service back to the supervisor."""
    dev("hold", "customs")  # the supervisor leaves customs alone until ./dev start customs
    with contextlib.suppress(FileNotFoundError, ValueError):
        with open(_pidfile(env)) as pidfile:
            old = int(pidfile.read().split()[0])
        _stop(old)

        async def gone() -> bool:
            return not _pid_alive(old)

        await eventually(gone, timeout=30, what=f"customs pid {old} stopping")
    log = os.path.join(env["AIL_DEVSTACK_DIR"], "logs", "customs.log")
    with open(log, "ab") as f:
        f.write(f"\n===== test starts customs with {extra_env!r}\n".encode())
    proc_env = {
        **os.environ,
        **env,
        "PYTHONUNBUFFERED": "1",
        "AIL_HTTP_PORT": env["AIL_CUSTOMS_SERVICE_URL"].rsplit(":", 1)[1],
        "AIL_SERVICE_NAME": "customs",
        **extra_env,
    }
    python = shlex.quote(str(REPO / ".venv" / "bin" / "python"))
    cp = subprocess.run(
        ["sh", "-c", f"{python} -m ail_customs >> {shlex.quote(log)} 2>&1 < /dev/null & echo $!"],
        env=proc_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        start_new_session=True,
        check=True,
    )
    pid = int(cp.stdout.strip())
    with open(_pidfile(env), "w") as pidfile:
        pidfile.write(f"{pid}\n")
    try:
        await eventually(lambda: _healthy(env, pid), timeout=120, interval=0.5, what="customs /healthz 200")
        yield pid
    finally:
        _stop(pid)

        async def stopped() -> bool:
            return not _pid_alive(pid)

        await eventually(stopped, timeout=30, what=f"customs pid {pid} stopping")
        dev("start", "customs")
        await eventually(lambda: _healthy(env), timeout=120, interval=0.5, what="customs back under ./dev")


def pid_alive(pid: int) -> bool:
    return _pid_alive(pid)
