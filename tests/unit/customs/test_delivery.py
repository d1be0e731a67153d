"""The Customs HTTP adapter (httpx MockTransport) and the re-send schedule."""

from __future__ import annotations

import httpx
import pytest

from ail_customs.adapters.customs_client import FeedRefused, HttpCustomsSystem
from ail_customs.domain.delivery import auto_resend_delay
from ail_shared import retry

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
    delays = [auto_resend_delay(n, base_seconds=5, max_rounds=4) for n in range(1, 6)]
    assert delays == [5, 10, 20, None, None]


class Sleeps(list[float]):
    """The waits the adapter asked for (no real time passes)."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def recording(*answers: httpx.Response) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[min(len(seen), len(answers)) - 1]

    return httpx.MockTransport(handler), seen


@pytest.mark.parametrize("code", [429, 503])
async def test_429_and_503_are_retried_after_customs_retry_after(code: int) -> None:
    # Old code: retried, but after its own fixed backoff, whatever Customs asked.
    sleeps = Sleeps()
    transport, seen = recording(
        httpx.Response(code, headers={"Retry-After": "5"}), httpx.Response(200, json={"result": "stored"})
    )
    c = HttpCustomsSystem("http://customs.test", tries=3, transport=transport, sleep=sleeps)
    out = await c.deliver(LICENSE)
    assert (out.result, out.tries) == ("stored", 2)
    assert len(seen) == 2 and sleeps == [5.0]


@pytest.mark.parametrize("code", [400, 409, 422])
async def test_refusals_are_store_failed_at_once(code: int) -> None:
    sleeps = Sleeps()
    transport, seen = recording(httpx.Response(code, text="malformed"))
    c = HttpCustomsSystem("http://customs.test", tries=3, transport=transport, sleep=sleeps)
    out = await c.deliver(LICENSE)
    assert out.result == "store_failed" and f"HTTP {code}" in out.detail
    assert len(seen) == 1 and sleeps == []


async def test_running_out_of_attempts_is_send_failed_and_the_feed_raises_unavailable() -> None:
    sleeps = Sleeps()
    transport, seen = recording(httpx.Response(503, headers={"Retry-After": "2"}))
    c = HttpCustomsSystem("http://customs.test", tries=3, transport=transport, sleep=sleeps)
    out = await c.deliver(LICENSE)
    assert (out.result, out.tries) == ("send_failed", 3)
    assert out.detail == "Customs answered HTTP 503 (after 3 tries)"
    # Old code: the feed raised a bare RuntimeError, and retried 4xx refusals too.
    with pytest.raises(retry.Unavailable):
        await c.feed(after=0, limit=10)
    assert len(seen) == 6 and sleeps == [2.0] * 4


async def test_a_feed_refusal_is_not_retried() -> None:
    transport, seen = recording(httpx.Response(400, text="bad after"))
    c = HttpCustomsSystem("http://customs.test", tries=3, transport=transport, sleep=Sleeps())
    with pytest.raises(FeedRefused):
        await c.feed(after=-1, limit=10)
    assert len(seen) == 1
