"""The one background-worker helper (ail_shared.workers.Worker): poll, wake, back off, stop. The
injected sleep records each wait and blocks until the test lets it go (or the worker is woken or
stopped), so no real time passes and nothing depends on timing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ail_shared.workers import Worker

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Sleeps:
    """Records every wait; each wait blocks until ``release()`` (or is cut short by the worker)."""

    def __init__(self, *, block: bool = False) -> None:
        self.delays: list[float] = []
        self.block = block
        self.waiting = asyncio.Event()
        self._gate = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.block:
            self.waiting.set()
            await self._gate.wait()
            self._gate.clear()

    def release(self) -> None:
        self._gate.set()


async def test_polls_with_the_poll_interval_and_stops() -> None:
    sleeps = Sleeps()
    worker: Worker

    async def step() -> float | None:
        if worker.runs == 2:
            worker.stop()
        return None

    worker = Worker("w", step, poll_seconds=1.5, sleep=sleeps)
    await worker.run()
    assert worker.runs == 3
    assert sleeps.delays == [1.5, 1.5]  # no wait after the step that stopped it


async def test_a_number_from_the_step_is_the_next_wait_and_zero_is_at_once() -> None:
    sleeps = Sleeps()
    answers: list[float | None] = [0, 0, 4.0, 0.25]
    worker: Worker

    async def step() -> float | None:
        if not answers:
            worker.stop()
            return None
        return answers.pop(0)

    worker = Worker("w", step, poll_seconds=9.0, sleep=sleeps)
    await worker.run()
    assert sleeps.delays == [4.0, 0.25]


async def test_failures_back_off_with_the_shared_formula_then_reset() -> None:
    sleeps = Sleeps()
    script: list[Exception | None] = [OSError("db down")] * 4 + [None, OSError("again"), None]
    worker: Worker
    seen_health: list[dict[str, object]] = []

    async def step() -> float | None:
        if not script:
            worker.stop()
            return None
        outcome = script.pop(0)
        seen_health.append(worker.health())
        if outcome is not None:
            raise outcome
        return None

    worker = Worker(
        "w", step, poll_seconds=2.0, backoff_base=0.5, backoff_cap=3.0, sleep=sleeps, clock=lambda: NOW
    )
    await worker.run()
    # 4 failures: 0.5, 1, 2, 3 (capped); a success waits the poll; the next failure starts at 0.5 again.
    assert sleeps.delays == [0.5, 1.0, 2.0, 3.0, 2.0, 0.5, 2.0]
    assert seen_health[4]["failures"] == 4 and seen_health[4]["failing_since"] == NOW.isoformat()
    assert "db down" in str(seen_health[4]["last_error"])
    assert worker.health() == {"runs": 3, "failures": 0, "failing_since": None, "last_error": None}


async def test_wake_ends_the_wait_and_a_wake_during_the_step_is_kept() -> None:
    sleeps = Sleeps(block=True)
    runs = asyncio.Queue[int]()
    worker: Worker

    async def step() -> float | None:
        await runs.put(worker.runs)
        if worker.runs == 1:
            worker.wake()  # arrives while the step runs: the next wait must not block
        return None

    worker = Worker("w", step, poll_seconds=60.0, sleep=sleeps)
    task = worker.start()
    assert await runs.get() == 0
    await sleeps.waiting.wait()  # first wait: blocked on the (fake) 60 s
    sleeps.waiting.clear()
    worker.wake()
    assert await runs.get() == 1  # woken, without the sleep being released
    assert await runs.get() == 2  # the wake from inside the step: no wait at all
    await sleeps.waiting.wait()
    assert sleeps.delays == [60.0, 60.0]
    await worker.aclose()
    assert task.done() and not task.cancelled()


async def test_wake_does_not_cut_a_backoff_short_but_stop_does() -> None:
    sleeps = Sleeps(block=True)
    calls = 0

    async def step() -> float | None:
        nonlocal calls
        calls += 1
        raise RuntimeError("outage")

    worker = Worker("w", step, poll_seconds=1.0, backoff_base=5.0, sleep=sleeps)
    task = worker.start()
    await sleeps.waiting.wait()
    worker.wake()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert calls == 1  # still backing off
    worker.stop()
    await task
    assert calls == 1 and sleeps.delays == [5.0]


async def test_aclose_cancels_a_step_that_does_not_leave() -> None:
    started = asyncio.Event()

    async def stuck() -> float | None:
        started.set()
        await asyncio.Event().wait()
        return None

    worker = Worker("w", stuck, poll_seconds=1.0)
    task = worker.start()
    await started.wait()
    await worker.aclose(timeout=0)
    assert task.cancelled()


async def test_a_long_step_sees_stopping_and_pauses_until_stopped() -> None:
    sleeps = Sleeps(block=True)
    worker: Worker
    left = asyncio.Event()

    async def long_step() -> float | None:
        while not worker.stopping:
            await worker.pause(2.0, wakeable=False)
        left.set()
        return None

    worker = Worker("w", long_step, poll_seconds=1.0, sleep=sleeps)
    task = worker.start()
    await sleeps.waiting.wait()
    worker.stop()
    await left.wait()
    await task
    assert sleeps.delays == [2.0]


async def test_cancellation_is_not_a_failure() -> None:
    async def step() -> float | None:
        raise asyncio.CancelledError

    worker = Worker("w", step, poll_seconds=1.0, sleep=Sleeps())
    with pytest.raises(asyncio.CancelledError):
        await worker.run()
    assert worker.failures == 0


def test_negative_waits_are_refused() -> None:
    async def step() -> float | None:
        return None

    with pytest.raises(ValueError):
        Worker("w", step, poll_seconds=-1)


async def test_the_outbox_relay_runs_on_the_worker_and_notify_wakes_it() -> None:
    from ail_shared.outbox import OutboxRelay

    relay = OutboxRelay(dsn="postgresql://x@127.0.0.1:1/x", bootstrap="127.0.0.1:1", schema="s")
    assert isinstance(relay.worker, Worker) and relay.worker.backoff_cap == 10.0
    sleeps = Sleeps()
    relay.worker._sleep = sleeps
    relay._on_notify(None, 1, "ail_outbox", "other_schema")
    await relay.worker.pause(5.0)  # not woken by another schema's NOTIFY
    relay._on_notify(None, 1, "ail_outbox", "s")
    await relay.worker.pause(5.0)  # woken: returns without waiting
    assert sleeps.delays == [5.0]
    relay.stop()
    assert relay.worker.stopping


async def test_a_long_step_marks_itself_healthy_so_the_next_outage_backs_off_from_the_start() -> None:
    sleeps = Sleeps()
    sessions = 0
    worker: Worker

    async def session() -> float | None:
        nonlocal sessions
        sessions += 1
        if sessions == 3:
            worker.mark_healthy()  # connected and working again ...
        if sessions == 5:
            worker.stop()
            return None
        raise ConnectionError("broker away")  # ... until the next outage

    worker = Worker("w", session, poll_seconds=1.0, backoff_base=0.5, sleep=sleeps)
    await worker.run()
    assert sleeps.delays == [0.5, 1.0, 0.5, 1.0]
    assert worker.runs == 1 and worker.failures == 0
