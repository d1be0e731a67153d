"""The webhook adapter and the shared retry policy: one attempt per call (the delivery worker
spreads the retries over the retry period), with the receiver's Retry-After read the shared way
(ail_shared.retry.retry_after_seconds) so the worker can honour it. Against a real receiver on
127.0.0.1 (tests/unit/status/support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web

from ail_shared import netguard
from ail_status.adapters.webhook_client import AiohttpWebhookSender
from tests.unit.status.support import LocalReceiver

Answer = Callable[[], web.Response]


async def _resolve(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


def sender() -> AiohttpWebhookSender:
    return AiohttpWebhookSender(
        timeout_seconds=10,
        connect_timeout_seconds=10,
        max_connections=2,
        policy=netguard.Policy(require_https=False, allow_loopback=True),
        resolver=_resolve,
    )


@pytest.fixture
async def answer() -> AsyncIterator[tuple[LocalReceiver, list[Answer]]]:
    """A receiver that gives the answers put in the list (the last one again and again)."""
    answers: list[Answer] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        make = answers.pop(0) if len(answers) > 1 else answers[0]
        return make()  # a new response each time (one cannot be sent twice)

    receiver = await LocalReceiver(handler).start()
    try:
        yield receiver, answers
    finally:
        await receiver.stop()


@pytest.mark.parametrize("code", [429, 503])
async def test_a_later_answer_carries_the_receivers_retry_after(
    code: int, answer: tuple[LocalReceiver, list[Answer]]
) -> None:
    # Old code: Outcome had no retry_after (the header was dropped with the answer).
    receiver, answers = answer
    answers.append(lambda: web.Response(status=code, headers={"Retry-After": "120"}))
    s = sender()
    try:
        outcome = await s.send(f"http://r.example.com:{receiver.port}/hook", {}, b"{}")
    finally:
        await s.aclose()
    assert not outcome.ok and outcome.status_code == code
    assert outcome.retry_after == 120.0
    assert len(receiver.seen) == 1  # the worker retries, not the adapter


async def test_retry_after_as_an_http_date(answer: tuple[LocalReceiver, list[Answer]]) -> None:
    receiver, answers = answer
    when = datetime.now(UTC) + timedelta(hours=1)
    answers.append(
        lambda: web.Response(status=503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    )
    s = sender()
    try:
        outcome = await s.send(f"http://r.example.com:{receiver.port}/hook", {}, b"{}")
    finally:
        await s.aclose()
    assert outcome.retry_after is not None and 3500 < outcome.retry_after <= 3600


@pytest.mark.parametrize("code", [400, 409, 422])
async def test_refusals_are_one_attempt_without_retry_after(
    code: int, answer: tuple[LocalReceiver, list[Answer]]
) -> None:
    receiver, answers = answer
    answers.append(lambda: web.Response(status=code))
    s = sender()
    try:
        outcome = await s.send(f"http://r.example.com:{receiver.port}/hook", {}, b"{}")
    finally:
        await s.aclose()
    assert not outcome.ok and outcome.retry_after is None and len(receiver.seen) == 1


async def test_one_connection_carries_many_deliveries(
    answer: tuple[LocalReceiver, list[Answer]],
) -> None:
    """Keep-alive: the answer is read (and dropped), so the connection goes back to the pool;
    an answer longer than the read limit closes its connection and the next POST still goes."""
    receiver, answers = answer
    answers += [lambda: web.Response(status=200, body=b"x" * 200_000), lambda: web.Response(status=204)]
    s = sender()
    try:
        outcomes = [await s.send(f"http://r.example.com:{receiver.port}/h", {}, b"{}") for _ in range(5)]
    finally:
        await s.aclose()
    assert [o.status_code for o in outcomes] == [200, 204, 204, 204, 204]
    ports = [x.peer_port for x in receiver.seen]
    assert len(ports) == 5 and ports[0] != ports[1] and len(set(ports[1:])) == 1, ports
