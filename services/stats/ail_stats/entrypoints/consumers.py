"""Consumer wiring of the statistics service: the faust agent over ``ail.submission``. It decodes
each record, finds the handler of the event's type in ``EVENT_HANDLERS`` and gives it the tables
at the record's position (``TablesUnitOfWork``); what can never be counted goes to the
dead-letter topic with the reason.

A fold that fails for another reason is tried again (``ail_shared.retry.backoff``); after the
last try the process exits (code 70) instead of letting faust ack an event that was not folded:
the restart redelivers it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ail_shared.consumer import DeadLetter, send_dead_letter
from ail_shared.errors import EventError
from ail_shared.events import decode_envelope, parse_payload
from ail_shared.logging import get_logger
from ail_shared.retry import backoff
from ail_stats.adapters.faust_app import APP_ID, StatsApp
from ail_stats.domain.figures import NotCountable
from ail_stats.service_layer.handlers import EVENT_HANDLERS, Handler
from ail_stats.service_layer.unit_of_work import ApprovalStore, FigureStore, TablesUnitOfWork

log = get_logger("ail.stats.fold")

CONSUMER_NAME = f"{APP_ID}.fold"
FOLD_TRIES = 3


@dataclass
class FoldStats:
    counted: int = 0
    already_folded: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_letters: int = 0
    last_error: str = ""
    started_at: float = field(default_factory=time.monotonic)


@dataclass
class Record:
    """One source record, in the shape ``send_dead_letter`` needs."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any


DeadLetterSend = Callable[[Record, str], Awaitable[None]]


class Fold:
    """Folds one record at a time into the tables (``fold_one`` is unit-tested without faust)."""

    def __init__(
        self,
        approvals: ApprovalStore,
        figures: FigureStore,
        dead_letter: DeadLetterSend,
        *,
        handlers: Mapping[type[Any], Handler] = EVENT_HANDLERS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.approvals = approvals
        self.figures = figures
        self.dead_letter = dead_letter
        self.by_name = {event_type.__name__: handler for event_type, handler in handlers.items()}
        self.sleep = sleep
        self.stats = FoldStats()

    async def fold_one(self, rec: Record) -> None:
        try:
            env = decode_envelope(rec.value)
            handler = self.by_name.get(env.event_type)
            if handler is None:
                self.stats.ignored += 1
                return
            event = parse_payload(env)
            uow = TablesUnitOfWork(self.approvals, self.figures, partition=rec.partition, offset=rec.offset)
            outcome = await handler(uow, event, env)
        except (EventError, NotCountable, ValidationError) as exc:
            reason = f"{exc.code}: {exc.message}" if isinstance(exc, EventError) else f"not_countable: {exc}"
            await self.dead_letter(rec, reason)
            self.stats.dead_letters += 1
            log.warning(
                "dead_lettered", topic=rec.topic, partition=rec.partition, offset=rec.offset, reason=reason
            )
            return
        if outcome == "counted":
            self.stats.counted += 1
        elif outcome == "duplicate":
            self.stats.duplicates += 1
            log.info("approval_duplicate", application_id=env.aggregate_id, offset=rec.offset)
        elif outcome == "already_folded":
            self.stats.already_folded += 1
        else:
            self.stats.ignored += 1

    async def fold_with_retries(self, rec: Record) -> bool:
        """Fold, trying again on failure; False when the last try failed (the caller exits)."""
        for attempt in range(1, FOLD_TRIES + 1):
            try:
                await self.fold_one(rec)
                return True
            except Exception as exc:  # noqa: BLE001 - never let faust ack an unfolded event
                self.stats.last_error = f"fold failed: {exc!r}"
                log.error("fold_failed", offset=rec.offset, partition=rec.partition, error=repr(exc))
                if attempt < FOLD_TRIES:
                    await self.sleep(backoff(attempt, base=0.5, cap=2.0))
        return False

    async def agent(self, stream: Any) -> None:
        """The faust agent: records in offset order, each folded before the next."""
        async for event in stream.events():
            msg = event.message
            headers = msg.headers
            if isinstance(headers, Mapping):
                headers = list(headers.items())
            rec = Record(msg.topic, msg.partition, msg.offset, msg.key, msg.value, headers)
            if not await self.fold_with_retries(rec):
                # An exception escaping the agent would let faust ack the event and commit past
                # it. Stop instead; the restart redelivers it.
                log.critical("fold_failed_exiting", offset=rec.offset, partition=rec.partition)
                os._exit(70)


def dead_letters_of(stats_app: StatsApp, stats: Callable[[], FoldStats]) -> DeadLetterSend:
    """Send to ``<topic>.dlt``, retrying until the broker takes it: the event is not acked
    before its dead letter is stored."""

    async def send(rec: Record, reason: str) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await send_dead_letter(stats_app.dlt, DeadLetter(rec, reason), consumer_name=CONSUMER_NAME)
                return
            except Exception as exc:  # noqa: BLE001 - broker trouble: retry, visibly
                delay = backoff(attempt, base=0.5, cap=10.0)
                stats().last_error = f"dead-letter send failed: {exc!r}"
                log.error("dead_letter_failed", offset=rec.offset, error=repr(exc), retry_in=delay)
                await asyncio.sleep(delay)

    return send


def fold_agent(stats_app: StatsApp) -> Fold:
    """The fold over ``stats_app``'s tables, registered as its agent."""
    fold: Fold

    def stats() -> FoldStats:
        return fold.stats

    fold = Fold(stats_app.approvals, stats_app.figures, dead_letters_of(stats_app, stats))
    stats_app.agent(fold.agent, name="fold")
    return fold
