"""Consumer wiring of the signer host: the consumer of ``ail.signer.requests`` is the shared
EventConsumer (decoding, dead-letter topic, offset commits after the database commit, inbox),
applying ``EVENT_HANDLERS`` one request at a time only as its fallback; normally it applies a
poll batch in chunks of ``CHUNK`` requests (the ``AnswerSignatureRequests`` halves, ``prepare``
and ``complete``), one transaction per chunk, pipelined, instead of one transaction per request.

Why: a SoftHSM2 token makes an ECDSA P-256 signature in about 0.1 ms, while one PostgreSQL
commit plus one outbox relay transaction per request costs milliseconds; one at a time the
service would run at a small fraction of the token's speed. Chunks keep every guarantee: a
chunk's inbox claims and answers commit together, offsets are committed only after the whole
poll batch is written. A database outage is waited out (the shared ``wait_out_outage``: the
position is held, nothing is dead-lettered); a batch that keeps failing for another reason falls
back to the shared one-request-at-a-time path, which dead-letters only the request that fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition

import ail_shared.topics as topics
from ail_shared.consumer import BatchOutcome, EventConsumer, bind_handlers, is_transient, process_batch
from ail_shared.events import Envelope, Event, SignatureRequested
from ail_shared.logging import get_logger
from ail_shared.retry import backoff
from ail_signer.domain.commands import AnswerSignatureRequests, Request
from ail_signer.service_layer.handlers import Stage, complete, inject, prepare
from ail_signer.service_layer.host import SignerHost
from ail_signer.service_layer.unit_of_work import SignerUnitOfWork

log = get_logger("ail.signer.consumer")
CHUNK = 100  # requests per signing job and per database transaction


class SignatureRequestConsumer(EventConsumer):
    # The pipeline commits one partition's position per batch: it is given one partition's records.
    merge_partitions = False

    def __init__(
        self, *, host: SignerHost, uow: Callable[[Any], SignerUnitOfWork], pool: Any, **kwargs: Any
    ) -> None:
        super().__init__(
            name=f"signer.{host.host_id}",
            topics=[topics.SIGNER_REQUESTS],
            handlers=bind_handlers(inject(host), uow),
            pool=pool,
            **kwargs,
        )
        self.host = host
        self.uow = uow  # on a connection (the fallback) or on the pool (the pipeline)

    async def _process_with_retries(
        self, consumer: Any, dlt: Any, tp: TopicPartition | None, records: list[Any], handled: set[str]
    ) -> None:
        assert tp is not None  # merge_partitions is off
        attempt = 0
        while True:
            attempt += 1
            try:
                outcome = await self._pipeline(records, handled)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an outage waits; else fall back below
                if is_transient(exc):
                    # The database is away: hold the position until it is back (never fall
                    # back to the one-by-one path, which would only wait the same way, slower).
                    await self.wait_out_outage(exc, attempt, partition=tp.partition, records=len(records))
                    continue
                if attempt >= self.max_attempts:
                    log.error(
                        "batch_failed_falling_back",
                        consumer=self.name,
                        partition=tp.partition,
                        records=len(records),
                        error=repr(exc),
                    )
                    await super()._process_with_retries(consumer, dlt, tp, records, handled)
                    return
                delay = backoff(attempt, base=0.4, cap=5.0)
                log.warning(
                    "batch_retry", consumer=self.name, attempt=attempt, error=repr(exc), retry_in=delay
                )
                await asyncio.sleep(delay)
        self.outage_over()
        await self._finish(consumer, dlt, outcome)

    async def _pipeline(self, records: list[Any], handled: set[str]) -> BatchOutcome:
        """Chunks of the poll batch flow through three steps at once: decoding and checking
        (event loop), signing (token thread), writing (a database transaction per chunk), so
        the token is kept busy while earlier chunks are written and later ones decoded. A
        failure anywhere fails the whole batch; its retry skips what was already written."""
        total = BatchOutcome()
        if not records:
            return total
        last = records[-1]
        total.commits[(last.topic, last.partition)] = last.offset + 1
        records = self._maybe_mine(records, total)
        stages: asyncio.Queue[Stage | None] = asyncio.Queue()
        writer = asyncio.create_task(self._write_stages(stages, total))
        try:
            for start in range(0, len(records), CHUNK):
                requests: list[Request] = []

                async def collect(
                    env: Envelope, event: Event, _rec: Any, into: list[Request] = requests
                ) -> str:
                    if not isinstance(event, SignatureRequested):  # the only type handled here
                        return "ignored"
                    into.append((env, event))
                    return "collected"

                # Decoding and dead-lettering of malformed records, as the shared loop does.
                decoded = await process_batch(records[start : start + CHUNK], collect, handled)
                total.dead_letters.extend(decoded.dead_letters)
                total.ignored += decoded.ignored - len(requests)
                if writer.done():
                    break  # the writer failed: stop feeding it, raise below
                cmd = AnswerSignatureRequests(consumer=self.name, requests=tuple(requests))
                await stages.put(await prepare(self.uow(self.pool), cmd, self.host))
            await stages.put(None)
            await writer
        finally:
            if not writer.done():
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
        return total

    def _maybe_mine(self, records: list[Any], total: BatchOutcome) -> list[Any]:
        """Drop, without decoding, the requests that cannot be this host's: keyed by a serial it
        does not hold and not mentioning its host id anywhere. A host that joins (a new consumer
        group reads the topic from the start) gets through other hosts' history quickly; a false
        match only costs a decode."""
        held = {serial.encode() for serial in self.host.held_serials()}
        host = self.host.host_id.encode()
        kept = [r for r in records if r.value is None or r.key in held or host in r.value]
        total.ignored += len(records) - len(kept)
        return kept

    async def _write_stages(self, stages: asyncio.Queue[Stage | None], total: BatchOutcome) -> None:
        while (stage := await stages.get()) is not None:
            done = await complete(self.uow(self.pool), stage, self.host)
            total.applied += done.applied
            total.duplicates += done.duplicates
            total.ignored += done.ignored
