"""The application's two MOFCOM adapters (eligibility, key-agri filing reports) on the shared
retry policy: 429 and 503 retried after the Retry-After wait (injected sleep, no real waiting),
refusals (400/409/422) answered at once, and running out of attempts told apart from a refusal."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest

from ail_application.adapters.mofcom_eligibility import (
    EligibilityRefused,
    EligibilityUnavailable,
    MofcomEligibility,
)
from ail_application.adapters.mofcom_filing import MofcomFilingClient


class Sleeps(list[float]):
    """The waits the adapter asked for (no real time passes)."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


class NoCatalogue:
    """Reference data that knows no commodity (MOFCOM's answer is all the adapter uses here)."""

    def commodity(self, code: str, year: int) -> None:
        return None


ELIGIBLE = {
    "results": [
        {"commodity_code": "1201100000", "on_catalogue": True, "electronic_allowed": True, "key_agri": True}
    ]
}


def recording(*answers: httpx.Response) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[min(len(seen), len(answers)) - 1]

    return httpx.MockTransport(handler), seen


def eligibility(transport: httpx.MockTransport, sleeps: Sleeps, attempts: int = 3) -> MofcomEligibility:
    ref: Any = NoCatalogue()
    return MofcomEligibility("http://mofcom", ref, attempts=attempts, transport=transport, sleep=sleeps)


async def ask(checker: MofcomEligibility) -> list[Any]:
    try:
        return list(await checker.check(enterprise_code="e", year=2027, commodity_codes=["1201100000"]))
    finally:
        await checker.aclose()


# -- eligibility ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [429, 503])
async def test_eligibility_retries_429_and_503_after_retry_after(code: int) -> None:
    # Old code: a 429 was not retried (the pre-check answered 503 at once); a 503's Retry-After
    # was ignored (fixed backoff).
    sleeps = Sleeps()
    transport, seen = recording(
        httpx.Response(code, headers={"Retry-After": "4"}), httpx.Response(200, json=ELIGIBLE)
    )
    answers = await ask(eligibility(transport, sleeps))
    assert answers[0].on_catalogue and answers[0].key_agri
    assert len(seen) == 2 and sleeps == [4.0]


@pytest.mark.parametrize("code", [400, 409, 422])
async def test_eligibility_refusal_is_not_retried_and_not_an_outage(code: int) -> None:
    # Old code: a refusal was reported as EligibilityUnavailable (503 "try again in a minute").
    sleeps = Sleeps()
    transport, seen = recording(httpx.Response(code, text="bad enterprise"))
    with pytest.raises(EligibilityRefused) as caught:
        await ask(eligibility(transport, sleeps))
    assert caught.value.status_code == 502 and str(code) in caught.value.message
    assert len(seen) == 1 and sleeps == []


async def test_eligibility_out_of_attempts_is_unavailable() -> None:
    sleeps = Sleeps()
    transport, seen = recording(httpx.Response(503, headers={"Retry-After": "1"}))
    with pytest.raises(EligibilityUnavailable) as caught:
        await ask(eligibility(transport, sleeps, attempts=3))
    assert caught.value.status_code == 503 and "503" in caught.value.message
    assert len(seen) == 3 and sleeps == [1.0, 1.0]


# -- key-agri filing reports ------------------------------------------------------------------


def filing_client(transport: httpx.MockTransport, sleeps: Sleeps, attempts: int = 3) -> MofcomFilingClient:
    return MofcomFilingClient("http://mofcom", attempts=attempts, transport=transport, sleep=sleeps)


@pytest.mark.parametrize("code", [429, 503])
async def test_filing_report_retries_429_and_503_after_retry_after(code: int) -> None:
    # Old code: one attempt per call; a 429/503 came back as a failed round.
    sleeps = Sleeps()
    transport, seen = recording(
        httpx.Response(code, headers={"Retry-After": "6"}), httpx.Response(201, json={"receipt_no": "R-1"})
    )
    client = filing_client(transport, sleeps)
    filing_id = uuid4()
    try:
        outcome = await client.report(filing_id, "1100776367555", {"goods": []})
    finally:
        await client.aclose()
    assert outcome.receipt_no == "R-1" and outcome.error is None
    assert len(seen) == 2 and sleeps == [6.0]
    assert {r.headers["Idempotency-Key"] for r in seen} == {str(filing_id)}


@pytest.mark.parametrize("code", [400, 409, 422])
async def test_filing_refusal_is_not_retried(code: int) -> None:
    sleeps = Sleeps()
    transport, seen = recording(httpx.Response(code, text="data wrong"))
    client = filing_client(transport, sleeps)
    try:
        outcome = await client.report(uuid4(), "1100776367555", {})
    finally:
        await client.aclose()
    assert outcome.receipt_no is None and not outcome.retryable
    assert outcome.error is not None and str(code) in outcome.error
    assert len(seen) == 1 and sleeps == []


async def test_filing_out_of_attempts_is_retryable_with_retry_after() -> None:
    # Old code: ReportOutcome had no retry_after (the next round could come sooner than asked).
    sleeps = Sleeps()
    transport, seen = recording(httpx.Response(429, headers={"Retry-After": "300"}))
    client = filing_client(transport, sleeps, attempts=2)
    try:
        outcome = await client.report(uuid4(), "1100776367555", {})
    finally:
        await client.aclose()
    assert outcome.receipt_no is None and outcome.retryable and outcome.retry_after == 300.0
    assert len(seen) == 2 and sleeps == [30.0]
