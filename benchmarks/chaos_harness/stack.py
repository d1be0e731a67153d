"""The stack under test as the harness sees it: its env file, the demo tenants, HTTP clients
that ride out outages, and ``./dev kill`` / ``./dev start`` of the stack's own profile."""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks._stack import REPO, stack_env, stack_replicas

RETRY_STATUSES = frozenset({500, 502, 503, 504})


class Unreachable(RuntimeError):
    """A call kept failing (connection errors or 5xx) until its deadline."""


@dataclass(frozen=True)
class Stack:
    env: dict[str, str]
    demo: dict[str, Any]

    @classmethod
    def find(cls) -> Stack:
        env = stack_env()
        demo_file = env.get("AIL_DEMO_FILE") or str(Path(env["AIL_DEVSTACK_DIR"]) / "demo.json")
        return cls(env=env, demo=json.loads(Path(demo_file).read_text()))

    @property
    def profile(self) -> str:
        return self.env["AIL_PROFILE"]

    @property
    def replicas(self) -> int:
        """Copies of each service the stack runs (``./dev up --replicas N``, ``./dev scale N``)."""
        return stack_replicas(self.env)

    @property
    def enterprises(self) -> list[str]:
        """The enterprises the demo agency acts for (each has a bound demo e-key)."""
        return list(self.demo["agency"]["acts_for"])

    def agency(self, enterprise: str | None = None, timeout: float = 30.0) -> httpx.AsyncClient:
        """A client of the public API as the demo agency (acting for ``enterprise`` when named)."""
        headers = {"Authorization": f"Bearer {self.demo['agency']['api_key']}"}
        if enterprise:
            headers["X-Enterprise-Code"] = enterprise
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
        return httpx.AsyncClient(
            base_url=self.env["AIL_ENTRY_URL"], headers=headers, timeout=timeout, limits=limits
        )

    def mofcom(self) -> httpx.AsyncClient:
        """The MOFCOM sandbox's own admin API (/control)."""
        return httpx.AsyncClient(base_url=self.env["AIL_MOFCOM_URL"], timeout=30.0)

    def customs(self) -> httpx.AsyncClient:
        """The Customs sandbox's own admin API (/control)."""
        return httpx.AsyncClient(base_url=self.env["AIL_CUSTOMS_URL"], timeout=60.0)

    async def dev(self, *args: str, timeout: float = 240.0) -> tuple[int, str]:
        """``./dev ARGS`` on this stack's profile and port base; (exit code, output)."""
        env = dict(os.environ)
        env["AIL_PROFILE"] = self.profile
        env["AIL_PORT_BASE"] = self.env["AIL_PORT_BASE"]
        proc = await asyncio.create_subprocess_exec(
            str(REPO / "dev"),
            *args,
            env=env,
            cwd=str(REPO),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return 124, f"./dev {' '.join(args)} did not finish within {timeout:.0f}s"
        return proc.returncode or 0, out.decode(errors="replace")


async def call(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    deadline: float = 600.0,
    **kwargs: Any,
) -> httpx.Response:
    """One API call as a patient client makes it: connection errors and 5xx (a service, nginx's
    upstream, PostgreSQL or Kafka being down) are retried with backoff until ``deadline``
    seconds; any other answer is returned. POSTs must carry an Idempotency-Key, so a retry of a
    write whose answer was lost is safe."""
    give_up = time.monotonic() + deadline
    delay = 0.3
    last = ""
    while True:
        try:
            resp = await client.request(method, url, **kwargs)
            if resp.status_code not in RETRY_STATUSES:
                return resp
            last = f"HTTP {resp.status_code} {resp.text[:200]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        if time.monotonic() + delay > give_up:
            raise Unreachable(f"{method} {url}: still failing after {deadline:.0f}s: {last}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
