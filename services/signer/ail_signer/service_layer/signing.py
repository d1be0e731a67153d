"""Use cases of the signer host: answer signature requests (in batches), keep the list of keys
present up to date, and announce it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg

import ail_shared.topics as topics
from ail_shared.events import EkeyHeartbeat, Envelope, Event, SignatureRequested, envelope_for, utcnow
from ail_shared.logging import get_logger
from ail_shared.outbox import write_events
from ail_signer.adapters import repository
from ail_signer.adapters.repository import SCHEMA, AnswerRecord
from ail_signer.adapters.token_worker import TokenWorker
from ail_signer.domain import model
from ail_signer.domain.model import KeyInfo, Refusal, Signature, SignOutcomes

log = get_logger("ail.signer")

Request = tuple[Envelope, SignatureRequested]
Answer = tuple[Envelope, SignatureRequested, Signature | Refusal, bytes | None]


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0


@dataclass
class Stage:
    """Requests on their way: checked, queued on the token thread, not yet written."""

    requests: list[Request] = field(default_factory=list)
    checked: list[bytes | Refusal] = field(default_factory=list)
    signing: asyncio.Future[SignOutcomes] | None = None
    result: BatchResult = field(default_factory=BatchResult)


@dataclass
class SigningService:
    host_id: str
    worker: TokenWorker
    heartbeat_ttl_seconds: float
    keys: list[KeyInfo] = field(default_factory=list)
    scanned_at: str = ""
    keys_changed: asyncio.Event = field(default_factory=asyncio.Event)

    # ------------------------------------------------------------------ keys

    def held_serials(self) -> set[str]:
        return {k.serial for k in self.keys}

    async def rescan(self) -> bool:
        """Look at the tokens again; True when the set of keys (or their state) changed."""
        keys = await self.worker.scan()
        changed = keys != self.keys
        if changed:
            log.info(
                "ekeys_changed",
                host_id=self.host_id,
                keys=[f"{k.serial}:{k.label}:{k.status}" for k in keys],
            )
        self.keys = keys
        self.scanned_at = utcnow().isoformat()
        return changed

    async def announce(self, pool: asyncpg.Pool) -> None:
        """Write a heartbeat naming the keys held now (through the outbox, so that a host whose
        database or relay is down, and that could not answer, does not claim keys)."""
        beat = EkeyHeartbeat(
            host_id=self.host_id,
            keys=[k.held_key() for k in self.keys],
            sent_at=utcnow(),
            ttl_seconds=self.heartbeat_ttl_seconds,
        )
        env = envelope_for(beat, aggregate_id=self.host_id, tenant="")
        async with pool.acquire() as conn, conn.transaction():
            await write_events(conn, schema=SCHEMA, items=[(topics.SIGNER_HEARTBEATS, env)])

    # ------------------------------------------------------------------ requests

    async def prepare(self, pool: asyncpg.Pool, *, consumer: str, requests: list[Request]) -> Stage:
        """Keep the requests that are this host's and not yet answered, check their bytes, and
        queue the signing on the token thread; returns at once, while the token signs, so the
        caller can prepare the next requests meanwhile."""
        stage = Stage()
        held = self.held_serials()
        mine = [(env, ev) for env, ev in requests if model.is_for_host(ev, self.host_id, held)]
        stage.result.ignored = len(requests) - len(mine)
        if not mine:
            return stage
        async with pool.acquire() as conn:
            seen = await repository.already_answered(
                conn, consumer=consumer, event_ids=[env.event_id for env, _ in mine]
            )
        stage.requests = _unique([(env, ev) for env, ev in mine if env.event_id not in seen])
        stage.result.duplicates = len(mine) - len(stage.requests)
        stage.checked = [model.payload_to_sign(ev) for _, ev in stage.requests]
        jobs = [
            (ev.ekey_serial, c)
            for (_, ev), c in zip(stage.requests, stage.checked, strict=True)
            if isinstance(c, bytes)
        ]
        stage.signing = self.worker.submit(jobs)
        return stage

    async def complete(self, pool: asyncpg.Pool, *, consumer: str, stage: Stage) -> BatchResult:
        """Wait for the stage's signatures, then claim the inbox records and write every answer
        in one transaction. A request claimed meanwhile by another transaction (a rebalance) is
        not answered twice: the claim decides (and the answer id is derived from the request id
        anyway)."""
        result = stage.result
        if not stage.requests or stage.signing is None:
            return result
        answers = self._collect(stage.requests, stage.checked, await stage.signing)
        async with pool.acquire() as conn, conn.transaction():
            claimed = await repository.claim(
                conn, consumer=consumer, event_ids=[env.event_id for env, _ in stage.requests]
            )
            kept = [a for a in answers if a[0].event_id in claimed]
            await self._write(conn, kept)
        result.applied = len(kept)
        result.duplicates += len(stage.requests) - len(kept)
        return result

    async def handle_one(self, conn: asyncpg.Connection, env: Envelope, event: SignatureRequested) -> None:
        """The one-request path (the consumer's fallback): the inbox claim is already made in the
        transaction open on ``conn``."""
        if not model.is_for_host(event, self.host_id, self.held_serials()):
            return
        checked = [model.payload_to_sign(event)]
        jobs = [(event.ekey_serial, c) for c in checked if isinstance(c, bytes)]
        await self._write(conn, self._collect([(env, event)], checked, await self.worker.sign_many(jobs)))

    def _collect(
        self, requests: list[Request], checked: list[bytes | Refusal], signed: SignOutcomes
    ) -> list[Answer]:
        if signed.keys_changed:
            self.keys_changed.set()
        outcomes = iter(signed.results)
        answers: list[Answer] = []
        for (env, ev), c in zip(requests, checked, strict=True):
            if isinstance(c, Refusal):
                answers.append((env, ev, c, None))
            else:
                answers.append((env, ev, next(outcomes), model.digest(c)))
        return answers

    async def _write(
        self,
        conn: asyncpg.Connection,
        answers: list[Answer],
    ) -> None:
        items = []
        records = []
        for env, ev, outcome, payload_digest in answers:
            answer_id = model.answer_event_id(env.event_id)
            event: Event
            if isinstance(outcome, Signature):
                event = model.signed(ev, outcome, self.host_id)
                kind, reason = "signed", None
            else:
                event = model.failed(ev, outcome)
                kind, reason = "failed", outcome.reason
                log.warning(
                    "signing_failed",
                    application_id=ev.application_id,
                    ekey_serial=ev.ekey_serial,
                    reason=outcome.reason,
                    detail=outcome.detail,
                )
            items.append(
                (
                    topics.SIGNER,
                    envelope_for(
                        event,
                        aggregate_id=ev.application_id,
                        tenant=env.tenant or ev.enterprise_code,
                        event_id=answer_id,
                        trace_context=env.trace_context,
                    ),
                )
            )
            records.append(
                AnswerRecord(
                    request_event_id=env.event_id,
                    answer_event_id=answer_id,
                    host_id=self.host_id,
                    application_id=ev.application_id,
                    submission_id=ev.submission_id,
                    enterprise_code=ev.enterprise_code,
                    ekey_serial=ev.ekey_serial,
                    outcome=kind,
                    reason=reason,
                    payload_sha256=payload_digest,
                )
            )
        await write_events(conn, schema=SCHEMA, items=items)
        await repository.record_answers(conn, records)


def _unique(requests: list[Request]) -> list[Request]:
    """One entry per request id (the same request twice in one batch is a redelivery)."""
    seen: set[object] = set()
    out = []
    for env, ev in requests:
        if env.event_id not in seen:
            seen.add(env.event_id)
            out.append((env, ev))
    return out
