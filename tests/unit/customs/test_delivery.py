"""The Customs HTTP adapter (httpx MockTransport) and the re-send schedule."""

from __future__ import annotations

import httpx

from ail_customs.adapters.customs_client import HttpCustomsSystem
from ail_customs.domain.delivery import ResendPolicy

LICENSE = {"license_no": "26AANW0001", "quantity": "100"}


def client(handler: object, tries: int = 3) -> HttpCustomsSystem:
    return HttpCustomsSystem(
        "http://customs.test",
        tries=tries,
        backoff=0,
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
    )


async def test_stored_answer() -> None:
    c = client(lambda r: httpx.Response(200, json={"result": "stored", "receipt_no": "R1"}))
    out = await c.deliver(LICENSE)
    assert (out.result, out.receipt_no, out.tries) == ("stored", "R1", 1)


async def test_failed_answer_is_store_failed_without_retry() -> None:
    calls = []

    def handler(r: httpx.Request) -> httpx.Response:
        calls.append(r)
        return httpx.Response(200, json={"result": "failed", "reason": "bad data"})

    out = await client(handler).deliver(LICENSE)
    assert (out.result, out.detail, len(calls)) == ("store_failed", "bad data", 1)


async def test_timeouts_are_retried_then_send_failed() -> None:
    calls = []

    def handler(r: httpx.Request) -> httpx.Response:
        calls.append(r)
        raise httpx.ReadTimeout("slow", request=r)

    out = await client(handler, tries=3).deliver(LICENSE)
    assert out.result == "send_failed" and "in time" in out.detail and len(calls) == 3


async def test_a_503_then_stored_is_stored_on_the_second_try() -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json={"result": "stored"})])
    out = await client(lambda r: next(answers)).deliver(LICENSE)
    assert (out.result, out.tries) == ("stored", 2)


def test_auto_resend_backoff_doubles_and_is_bounded() -> None:
    delays = [ResendPolicy(base_seconds=5, max_rounds=4).delay_after(n) for n in range(1, 6)]
    assert delays == [5, 10, 20, None, None]
