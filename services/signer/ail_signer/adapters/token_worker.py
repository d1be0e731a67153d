"""Runs the blocking token calls on one thread of their own, so the event loop keeps consuming
and publishing while a token signs (python-pkcs11 releases the GIL inside PKCS#11 calls)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from ail_shared import metrics
from ail_signer.domain.model import KeyInfo, SignOutcomes


class Tokens(Protocol):
    def scan(self) -> list[KeyInfo]: ...
    def sign_many(self, jobs: list[tuple[str, bytes]]) -> SignOutcomes: ...
    def close(self) -> None: ...


class TokenWorker:
    def __init__(self, tokens: Tokens, *, host_id: str = "") -> None:
        self._tokens = tokens
        self._host_id = host_id  # the label of ail_signer_sign_duration_seconds
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pkcs11")

    async def scan(self) -> list[KeyInfo]:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._tokens.scan)

    def submit(self, jobs: list[tuple[str, bytes]]) -> asyncio.Future[SignOutcomes]:
        """Queue ``jobs`` on the token thread now; the caller goes on preparing the next ones
        while the token signs these (jobs run in submission order)."""
        loop = asyncio.get_running_loop()
        if not jobs:
            done: asyncio.Future[SignOutcomes] = loop.create_future()
            done.set_result(SignOutcomes(results=[]))
            return done
        return loop.run_in_executor(self._thread, self._timed_sign, jobs)

    def _timed_sign(self, jobs: list[tuple[str, bytes]]) -> SignOutcomes:
        started = time.perf_counter()
        try:
            return self._tokens.sign_many(jobs)
        finally:
            metrics.SIGN_SECONDS.labels(self._host_id).observe(time.perf_counter() - started)

    async def sign_many(self, jobs: list[tuple[str, bytes]]) -> SignOutcomes:
        return await self.submit(jobs)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._tokens.close)
        self._thread.shutdown(wait=True)
