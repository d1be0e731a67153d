"""The webhook adapter and the shared retry policy: one attempt per call (the delivery worker
spreads the retries over the retry period), with the receiver's Retry-After read the shared way
(ail_shared.retry.retry_after_seconds) so the worker can honour it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from ail_shared import netguard
from ail_status.adapters.webhook_client import HttpxWebhookSender

PUBLIC_ADDRESS = "93.184.216.34"  # never contacted: every request goes to a MockTransport


async def _resolve(host: str, port: int) -> list[str]:
    return [PUBLIC_ADDRESS]


def sender_answering(*answers: httpx.Response) -> tuple[HttpxWebhookSender, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[min(len(seen), len(answers)) - 1]

    sender = HttpxWebhookSender(
        timeout_seconds=1,
        connect_timeout_seconds=1,
        max_connections=2,
        policy=netguard.Policy(require_https=False),
        resolver=_resolve,
        transport=httpx.MockTransport(handler),
    )
    return sender, seen


@pytest.mark.parametrize("code", [429, 503])
async def test_a_later_answer_carries_the_receivers_retry_after(code: int) -> None:
    # Old code: Outcome had no retry_after (the header was dropped with the answer).
    sender, seen = sender_answering(httpx.Response(code, headers={"Retry-After": "120"}))
    try:
        outcome = await sender.send("http://r.example.com/hook", {}, b"{}")
    finally:
        await sender.aclose()
    assert not outcome.ok and outcome.status_code == code
    assert outcome.retry_after == 120.0
    assert len(seen) == 1  # the worker retries, not the adapter


async def test_retry_after_as_an_http_date() -> None:
    when = datetime.now(UTC) + timedelta(hours=1)
    sender, _ = sender_answering(
        httpx.Response(503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    )
    try:
        outcome = await sender.send("http://r.example.com/hook", {}, b"{}")
    finally:
        await sender.aclose()
    assert outcome.retry_after is not None and 3500 < outcome.retry_after <= 3600


@pytest.mark.parametrize("code", [400, 409, 422])
async def test_refusals_are_one_attempt_without_retry_after(code: int) -> None:
    sender, seen = sender_answering(httpx.Response(code))
    try:
        outcome = await sender.send("http://r.example.com/hook", {}, b"{}")
    finally:
        await sender.aclose()
    assert not outcome.ok and outcome.retry_after is None and len(seen) == 1
