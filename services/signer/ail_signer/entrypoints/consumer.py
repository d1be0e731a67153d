"""The consumer of ``ail.signer.requests``: the shared EventConsumer (decoding, dead-letter topic,
offset commits after the database commit, inbox), applying a whole poll batch of one partition
in one transaction instead of one transaction per request.

Why: one token signs an ECDSA P-256 signature in about 0.1 ms, while one PostgreSQL commit plus
one outbox relay transaction per request costs milliseconds; per request the service would run
at a small fraction of the token's speed. Batches keep every guarantee: the inbox claims and the
answers commit together, offsets are committed only after that, and a batch that keeps failing
falls back to the shared one-request-at-a-time path, which dead-letters only the request that
fails.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ail_shared import topics
from ail_shared.consumer import EventConsumer, process_batch
from ail_shared.events import Envelope, Event, SignatureRequested
from ail_shared.logging import get_logger
from aiokafka import TopicPartition

from ail_signer.service_layer.signing import Request, SigningService

log = get_logger("ail.signer.consumer")


class SignatureRequestConsumer(EventConsumer):
    def __init__(self, *, service: SigningService, **kwargs: Any) -> None:
        super().__init__(
            name=f"signer.{service.host_id}",
            topics=[topics.SIGNER_REQUESTS],
            handlers={"SignatureRequested": self._handle_one},
            **kwargs,
        )
        self.service = service

    async def _handle_one(self, conn: Any, env: Envelope, event: Event) -> None:
        assert isinstance(event, SignatureRequested)
        await self.service.handle_one(conn, env, event)

    async def _process_with_retries(
        self, consumer: Any, dlt: Any, tp: TopicPartition, records: list[Any], handled: set[str]
    ) -> None:
        requests: list[Request] = []

        async def collect(env: Envelope, event: Event, _rec: Any) -> str:
            assert isinstance(event, SignatureRequested)
            requests.append((env, event))
            return "collected"

        # Decoding and dead-lettering of malformed records, exactly as the shared loop does.
        outcome = await process_batch(records, collect, handled)
        outcome.ignored -= len(requests)
        attempt = 0
        while True:
            attempt += 1
            try:
                done = await self.service.handle_batch(self.pool, consumer=self.name, requests=requests)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - transient: database or broker
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
                delay = min(0.2 * 2**attempt, 5.0)
                log.warning(
                    "batch_retry", consumer=self.name, attempt=attempt, error=repr(exc), retry_in=delay
                )
                await asyncio.sleep(delay)
        outcome.applied += done.applied
        outcome.duplicates += done.duplicates
        outcome.ignored += done.ignored
        await self._finish(consumer, dlt, outcome)
