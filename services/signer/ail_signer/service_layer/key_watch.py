"""The background loop of a signer host: re-scan the tokens every ``rescan_seconds`` (or at once
when signing found a token gone), and announce the keys every ``heartbeat_seconds`` and at once
when they change."""

from __future__ import annotations

import asyncio
import contextlib
import time

import asyncpg

from ail_shared.logging import get_logger
from ail_signer.service_layer.signing import SigningService

log = get_logger("ail.signer.keys")


async def run_key_watch(
    service: SigningService,
    pool: asyncpg.Pool,
    *,
    rescan_seconds: float,
    heartbeat_seconds: float,
    stopping: asyncio.Event,
) -> None:
    last_beat = 0.0
    announce_now = True  # the keys found at start-up
    backoff = 0.5
    while not stopping.is_set():
        try:
            if service.keys_changed.is_set():
                service.keys_changed.clear()
                announce_now = True
            if await service.rescan():
                announce_now = True
            if announce_now or time.monotonic() - last_beat >= heartbeat_seconds:
                await service.announce(pool)
                last_beat = time.monotonic()
                announce_now = False
            backoff = 0.5
            wait = rescan_seconds
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a token or database outage must not end the loop
            log.error("key_watch_error", host_id=service.host_id, error=repr(exc), retry_in=backoff)
            wait, backoff = backoff, min(backoff * 2, 10.0)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(_either(stopping, service.keys_changed), wait)


async def _either(a: asyncio.Event, b: asyncio.Event) -> None:
    tasks = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
