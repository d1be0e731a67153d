"""The one background-worker helper: run a step, wait until the next poll or until woken, back off
on failure, stop gracefully.

A worker is a loop around ``step`` (a zero-argument coroutine function)::

    while not stopping:
        try:    delay = await step()          # None: the poll interval; a number: that many seconds
        except: log "worker_failed"; wait backoff(failures)      (only stop() ends this wait)
        wait delay                            (wake() or stop() end this wait early)

* ``wake()`` ends the current wait (a LISTEN/NOTIFY callback, an in-process event, a test). A wake
  that arrives while the step runs is kept: the next wait returns at once, so no work is missed.
* ``stop()`` asks the loop to leave after the current step; ``aclose()`` also waits for it (and
  cancels it if it does not leave within the timeout). A long-running step checks
  ``worker.stopping`` and waits with ``await worker.pause(seconds)``, which returns early on stop
  (and on wake, unless ``wakeable=False``); it calls ``worker.mark_healthy()`` once it is working
  again after a failure (the failure count and the backoff start over).
* A failing step never ends the worker: it is logged (``worker_failed``, structured, with
  ``failures`` and ``retry_in``) and tried again after ``ail_shared.retry.backoff(failures,
  base=backoff_base, cap=backoff_cap)``; the first success after failures logs
  ``worker_recovered``. ``health()`` gives ``failing_since`` / ``last_error`` for /healthz.
* ``CancelledError`` is not a failure: it ends the worker at once.

Tests inject ``sleep`` (e.g. one that records the delay and returns at once) and ``clock``.

API (stable; add, don't rename)::

    Worker(name, step, *, poll_seconds, backoff_base=0.5, backoff_cap=10.0, sleep=asyncio.sleep,
           clock=now_utc, **log_fields)
    await worker.run();  worker.start() -> asyncio.Task;  await worker.aclose(timeout=10.0)
    worker.wake();  worker.stop();  worker.stopping -> bool
    await worker.pause(seconds, *, wakeable=True);  worker.mark_healthy()
    worker.runs, worker.failures, worker.failing_since, worker.last_error, worker.health() -> dict

Callers: ``ail_shared.outbox.OutboxRelay`` and the services' ``service_layer/workers.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from ail_shared.logging import get_logger
from ail_shared.retry import Clock, Sleep, backoff, now_utc

log = get_logger("ail.worker")

# One pass of the work. Returns None to wait the poll interval, or the seconds to wait (0: again at once).
Step = Callable[[], Awaitable[float | None]]


class Worker:
    def __init__(
        self,
        name: str,
        step: Step,
        *,
        poll_seconds: float,
        backoff_base: float = 0.5,
        backoff_cap: float = 10.0,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = now_utc,
        **log_fields: Any,
    ) -> None:
        if poll_seconds < 0 or backoff_base < 0 or backoff_cap < 0:
            raise ValueError("Worker waits must not be negative")
        self.name = name
        self.step = step
        self.poll_seconds = poll_seconds
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.log_fields = log_fields
        self._sleep = sleep
        self._clock = clock
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.runs = 0  # steps that returned normally
        self.failures = 0  # consecutive failed steps (0 once a step succeeds)
        self.failing_since: datetime | None = None
        self.last_error: str | None = None

    # -- control -------------------------------------------------------------------------------

    def wake(self) -> None:
        """End the current wait (or the next one, if the step is running)."""
        self._wake.set()

    def stop(self) -> None:
        """Ask the loop to leave after the current step. Safe to call more than once."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> asyncio.Task[None]:
        """Run the loop in a task of its own (named after the worker)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"worker-{self.name}")
        return self._task

    async def aclose(self, timeout: float = 10.0) -> None:
        """Stop, and wait for the task ``start()`` made; cancel it if it outlasts ``timeout``."""
        self.stop()
        task = self._task
        if task is None or task.done():
            return
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                delay = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a worker outlives every failure of a step
                await self._failed(exc)
                continue
            self._succeeded()
            wait = self.poll_seconds if delay is None else max(0.0, float(delay))
            if wait == 0:
                # Work is waiting: go on, but let the rest of the service run first.
                self._wake.clear()
                await asyncio.sleep(0)
                continue
            await self.pause(wait)

    async def pause(self, seconds: float, *, wakeable: bool = True) -> None:
        """Wait ``seconds``, or less if the worker is stopped (or woken, when ``wakeable``).
        A pending wake is consumed."""
        if self._stopping.is_set():
            return
        if wakeable and self._wake.is_set():
            self._wake.clear()
            return
        waiters = [asyncio.ensure_future(self._stopping.wait())]
        if wakeable:
            waiters.append(asyncio.ensure_future(self._wake.wait()))
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait([sleeper, *waiters], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (sleeper, *waiters):
                if not fut.done():
                    fut.cancel()
            # Collect the cancelled futures, so none is left pending at shutdown.
            await asyncio.gather(sleeper, *waiters, return_exceptions=True)
        if wakeable:
            self._wake.clear()

    async def _failed(self, exc: Exception) -> None:
        self.failures += 1
        if self.failing_since is None:
            self.failing_since = self._clock()
        self.last_error = repr(exc)
        delay = backoff(self.failures, base=self.backoff_base, cap=self.backoff_cap)
        log.error(
            "worker_failed",
            worker=self.name,
            error=repr(exc),
            failures=self.failures,
            since=self.failing_since.isoformat(),
            retry_in=delay,
            **self.log_fields,
        )
        await self.pause(delay, wakeable=False)

    def _succeeded(self) -> None:
        self.runs += 1
        self.mark_healthy()

    def mark_healthy(self) -> None:
        """The work goes on again: forget the failures (a long-running step calls this once it
        is back at work, since it returns only when stopping)."""
        if self.failures:
            log.info("worker_recovered", worker=self.name, failures=self.failures, **self.log_fields)
        self.failures = 0
        self.failing_since = None
        self.last_error = None

    def health(self) -> dict[str, Any]:
        """What /healthz shows of this worker."""
        return {
            "runs": self.runs,
            "failures": self.failures,
            "failing_since": self.failing_since.isoformat() if self.failing_since else None,
            "last_error": self.last_error,
        }
