"""The use cases of the signer host, each a handler that takes the unit of work and the host.

``EVENT_HANDLERS``: a ``SignatureRequested`` answered on its own (the consumer's one-at-a-time
path, inside the consumer's transaction that holds the inbox record).

``COMMAND_HANDLERS``: ``AnswerSignatureRequests``, a batch answered at once (:func:`prepare` then
:func:`complete`; the pipelined consumer calls the two halves itself, so the token signs one
chunk while the previous one is written), and ``AnnounceKeys``, the heartbeat naming the keys
held now (through the outbox, so that a host whose database or relay is down, and that could
not answer, does not claim keys).

Bootstrap binds ``host`` (:func:`inject`), as cosmicpython's bootstrap injects dependencies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import SpanKind

import ail_shared.topics as topics
from ail_shared.events import EkeyHeartbeat, Envelope, Event, SignatureRequested, envelope_for
from ail_shared.logging import get_logger
from ail_shared.telemetry import continue_trace, current_trace_context
from ail_signer.adapters.repository import AnswerRecord
from ail_signer.domain import model
from ail_signer.domain.commands import AnnounceKeys, AnswerSignatureRequests, Command, Request
from ail_signer.domain.model import Refusal, Signature, SignOutcomes
from ail_signer.service_layer.host import SignerHost
from ail_signer.service_layer.unit_of_work import SignerUnitOfWork

log = get_logger("ail.signer")

Answer = tuple[Envelope, SignatureRequested, Signature | Refusal, bytes | None]


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0


@dataclass
class Stage:
    """Requests on their way: checked, queued on the token thread, not yet written."""

    consumer: str = ""
    requests: list[Request] = field(default_factory=list)
    checked: list[bytes | Refusal] = field(default_factory=list)
    signing: asyncio.Future[SignOutcomes] | None = None
    result: BatchResult = field(default_factory=BatchResult)


# ------------------------------------------------------------------ events


async def answer_signature_request(
    uow: SignerUnitOfWork, event: SignatureRequested, env: Envelope, *, host: SignerHost
) -> None:
    """One request (the inbox claim is the consumer's): sign it if it is this host's, and write
    the answer (ApplicationSigned or SigningFailed) with its audit row."""
    if not model.is_for_host(event, host.host_id, host.held_serials()):
        return
    checked = [model.payload_to_sign(event)]
    jobs = [(event.ekey_serial, c) for c in checked if isinstance(c, bytes)]
    answers = _collect(host, [(env, event)], checked, await host.tokens.sign_many(jobs))
    async with uow:
        await _write(uow, host, answers)


EventHandlerWithHost = Callable[[SignerUnitOfWork, Any, Envelope], Awaitable[None]]

EVENT_HANDLERS: Mapping[type[Event], Callable[..., Awaitable[None]]] = {
    SignatureRequested: answer_signature_request,
}


# ------------------------------------------------------------------ commands


async def prepare(uow: SignerUnitOfWork, cmd: AnswerSignatureRequests, host: SignerHost) -> Stage:
    """Keep the requests that are this host's and not yet answered, check their bytes, and
    queue the signing on the token thread; returns at once, while the token signs, so the
    caller can prepare the next requests meanwhile."""
    stage = Stage(consumer=cmd.consumer)
    held = host.held_serials()
    mine = [(env, ev) for env, ev in cmd.requests if model.is_for_host(ev, host.host_id, held)]
    stage.result.ignored = len(cmd.requests) - len(mine)
    if not mine:
        return stage
    async with uow:
        seen = await uow.answers.already_answered(
            consumer=cmd.consumer, event_ids=[env.event_id for env, _ in mine]
        )
    stage.requests = _unique([(env, ev) for env, ev in mine if env.event_id not in seen])
    stage.result.duplicates = len(mine) - len(stage.requests)
    stage.checked = [model.payload_to_sign(ev) for _, ev in stage.requests]
    jobs = [
        (ev.ekey_serial, c)
        for (_, ev), c in zip(stage.requests, stage.checked, strict=True)
        if isinstance(c, bytes)
    ]
    stage.signing = host.tokens.submit(jobs)
    return stage


async def complete(uow: SignerUnitOfWork, stage: Stage, host: SignerHost) -> BatchResult:
    """Wait for the stage's signatures, then claim the inbox records and write every answer
    in one transaction. A request claimed meanwhile by another transaction (a rebalance) is
    not answered twice: the claim decides (and the answer id is derived from the request id
    anyway)."""
    result = stage.result
    if not stage.requests or stage.signing is None:
        return result
    answers = _collect(host, stage.requests, stage.checked, await stage.signing)
    async with uow:
        claimed = await uow.answers.claim(
            consumer=stage.consumer, event_ids=[env.event_id for env, _ in stage.requests]
        )
        kept = [a for a in answers if a[0].event_id in claimed]
        await _write(uow, host, kept)
    result.applied = len(kept)
    result.duplicates += len(stage.requests) - len(kept)
    return result


async def answer_signature_requests(
    uow: SignerUnitOfWork, cmd: AnswerSignatureRequests, host: SignerHost
) -> BatchResult:
    """Answer a batch of requests (:func:`prepare`, then :func:`complete`)."""
    return await complete(uow, await prepare(uow, cmd, host), host)


async def announce_keys(uow: SignerUnitOfWork, cmd: AnnounceKeys, host: SignerHost) -> None:
    """Write a heartbeat naming the keys held now."""
    beat = EkeyHeartbeat(
        host_id=host.host_id,
        keys=[k.held_key() for k in host.keys],
        sent_at=cmd.sent_at,
        ttl_seconds=host.heartbeat_ttl_seconds,
    )
    async with uow:
        uow.emit(topics.SIGNER_HEARTBEATS, beat, aggregate_id=host.host_id, tenant="")


CommandHandler = Callable[[SignerUnitOfWork, Any, SignerHost], Awaitable[Any]]

COMMAND_HANDLERS: Mapping[type[Command], CommandHandler] = {
    AnswerSignatureRequests: answer_signature_requests,
    AnnounceKeys: announce_keys,
}


async def handle(uow: SignerUnitOfWork, cmd: Command, host: SignerHost) -> Any:
    """Run the handler of ``cmd``'s type (``COMMAND_HANDLERS``) and return its result."""
    return await COMMAND_HANDLERS[type(cmd)](uow, cmd, host)


def inject(host: SignerHost) -> dict[type[Event], EventHandlerWithHost]:
    """``EVENT_HANDLERS`` with the host bound, for ``ail_shared.consumer.bind_handlers``."""

    def bound(handler: Callable[..., Awaitable[None]]) -> EventHandlerWithHost:
        async def apply(uow: SignerUnitOfWork, event: Any, env: Envelope) -> None:
            await handler(uow, event, env, host=host)

        return apply

    return {event_type: bound(handler) for event_type, handler in EVENT_HANDLERS.items()}


# ------------------------------------------------------------------ answers


def _collect(
    host: SignerHost, requests: list[Request], checked: list[bytes | Refusal], signed: SignOutcomes
) -> list[Answer]:
    if signed.keys_changed:
        host.mark_keys_changed()
    outcomes = iter(signed.results)
    answers: list[Answer] = []
    for (env, ev), c in zip(requests, checked, strict=True):
        if isinstance(c, Refusal):
            answers.append((env, ev, c, None))
        else:
            answers.append((env, ev, next(outcomes), model.digest(c)))
    return answers


async def _write(uow: SignerUnitOfWork, host: SignerHost, answers: list[Answer]) -> None:
    records = []
    for env, ev, outcome, payload_digest in answers:
        answer_id = model.answer_event_id(env.event_id)
        event: Event
        if isinstance(outcome, Signature):
            event = model.signed(ev, outcome, host.host_id)
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
        # The pipeline signs many requests at once, outside the shared consumer's per-event
        # span: one CONSUMER span per answered request keeps the submission's trace going
        # through the signer, and the answer carries this span's context.
        with continue_trace(
            env.trace_context,
            f"{topics.SIGNER_REQUESTS} process",
            kind=SpanKind.CONSUMER,
            attributes={
                "ail.event_id": str(env.event_id),
                "ail.ekey_serial": ev.ekey_serial,
                "ail.outcome": kind,
            },
        ):
            uow.emit_envelope(
                topics.SIGNER,
                envelope_for(
                    event,
                    aggregate_id=ev.application_id,
                    tenant=env.tenant or ev.enterprise_code,
                    event_id=answer_id,
                    trace_context=current_trace_context() or env.trace_context,
                ),
            )
        records.append(
            AnswerRecord(
                request_event_id=env.event_id,
                answer_event_id=answer_id,
                host_id=host.host_id,
                application_id=ev.application_id,
                submission_id=ev.submission_id,
                enterprise_code=ev.enterprise_code,
                ekey_serial=ev.ekey_serial,
                outcome=kind,
                reason=reason,
                payload_sha256=payload_digest,
            )
        )
    await uow.answers.record(records)


def _unique(requests: list[Request]) -> list[Request]:
    """One entry per request id (the same request twice in one batch is a redelivery)."""
    seen: set[object] = set()
    out = []
    for env, ev in requests:
        if env.event_id not in seen:
            seen.add(env.event_id)
            out.append((env, ev))
    return out
