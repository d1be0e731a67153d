"""The one retry policy (ail_shared.retry): what is retried, how long it waits (Retry-After
honoured and capped), and the typed Unavailable when the attempts run out. No real waiting: the
policy's sleep records the delays."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from ail_shared.consumer import outage_delay
from ail_shared.retry import (
    RetryPolicy,
    Unavailable,
    backoff,
    call,
    call_http,
    retry_after_seconds,
    retryable_status,
)

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def policy(sleeps: Sleeps, **kw: float) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps, clock=lambda: NOW, **kw)  # type: ignore[arg-type]


def scripted(*answers: httpx.Response | Exception) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.AsyncClient(base_url="http://x", transport=httpx.MockTransport(handler)), seen


def test_backoff_doubles_from_base_to_cap() -> None:
    assert [backoff(n, base=0.5, cap=10.0) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert backoff(0, base=0.5, cap=10.0) == 0.0
    assert backoff(10_000, base=0.5, cap=10.0) == 10.0  # no overflow in a long outage


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504])
def test_later_statuses_are_retryable(code: int) -> None:
    assert retryable_status(code)


@pytest.mark.parametrize("code", [200, 201, 400, 401, 403, 404, 409, 410, 413, 422])
def test_answers_and_refusals_are_not(code: int) -> None:
    assert not retryable_status(code)


def test_retry_after_seconds_and_http_date() -> None:
    assert retry_after_seconds("7", now=NOW) == 7.0
    assert retry_after_seconds(" 0 ", now=NOW) == 0.0
    assert retry_after_seconds("Tue, 01 Dec 2026 12:00:30 GMT", now=NOW) == 30.0
    assert retry_after_seconds("Tue, 01 Dec 2026 11:00:00 GMT", now=NOW) == 0.0  # in the past
    assert retry_after_seconds(None, now=NOW) is None
    assert retry_after_seconds("soon", now=NOW) is None
    assert retry_after_seconds("-5", now=NOW) is None


@pytest.mark.parametrize("code", [429, 503])
async def test_retry_after_is_honoured(code: int) -> None:
    sleeps = Sleeps()
    client, seen = scripted(httpx.Response(code, headers={"Retry-After": "3"}), httpx.Response(200))
    resp = await call_http(lambda: client.get("/a"), policy=policy(sleeps), what="X GET /a")
    assert resp.status_code == 200
    assert len(seen) == 2
    assert sleeps.delays == [3.0]


async def test_retry_after_http_date_is_honoured_and_capped() -> None:
    sleeps = Sleeps()
    client, _ = scripted(
        httpx.Response(503, headers={"Retry-After": "Tue, 01 Dec 2026 12:00:20 GMT"}),
        httpx.Response(429, headers={"Retry-After": "3600"}),
        httpx.Response(200),
    )
    resp = await call_http(
        lambda: client.get("/a"), policy=policy(sleeps, retry_after_cap=60.0), what="X GET /a"
    )
    assert resp.status_code == 200
    assert sleeps.delays == [20.0, 60.0]


async def test_without_retry_after_the_backoff_applies() -> None:
    sleeps = Sleeps()
    client, _ = scripted(
        httpx.Response(502),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.Response(201),
    )
    resp = await call_http(
        lambda: client.get("/a"), policy=policy(sleeps, attempts=4, base=0.25, cap=0.75), what="X"
    )
    assert resp.status_code == 201
    assert sleeps.delays == [0.25, 0.5, 0.75]


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 422])
async def test_refusals_come_back_at_once(code: int) -> None:
    sleeps = Sleeps()
    client, seen = scripted(httpx.Response(code, headers={"Retry-After": "1"}), httpx.Response(200))
    resp = await call_http(lambda: client.get("/a"), policy=policy(sleeps), what="X")
    assert resp.status_code == code
    assert len(seen) == 1 and sleeps.delays == []


async def test_running_out_of_attempts_raises_unavailable_with_the_last_answer() -> None:
    sleeps = Sleeps()
    client, seen = scripted(httpx.Response(503, headers={"Retry-After": "120"}))
    with pytest.raises(Unavailable) as caught:
        await call_http(lambda: client.get("/a"), policy=policy(sleeps, attempts=3), what="X GET /a")
    assert len(seen) == 3
    assert sleeps.delays == [30.0, 30.0]  # the default cap of 30 s per wait
    exc = caught.value
    assert exc.attempts == 3 and exc.status_code == 503
    assert exc.retry_after == 120.0  # uncapped: when the authority wants us back
    assert "HTTP 503" in exc.error and "X GET /a" in str(exc)


async def test_running_out_on_transport_failures_chains_the_cause() -> None:
    client, _ = scripted(httpx.ConnectError("refused"))
    with pytest.raises(Unavailable) as caught:
        await call_http(lambda: client.get("/a"), policy=policy(Sleeps(), attempts=2), what="X")
    assert caught.value.status_code is None and caught.value.retry_after is None
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert "ConnectError" in caught.value.error


async def test_a_single_attempt_never_sleeps() -> None:
    sleeps = Sleeps()
    client, seen = scripted(httpx.Response(503))
    with pytest.raises(Unavailable):
        await call_http(lambda: client.get("/a"), policy=policy(sleeps, attempts=1), what="X")
    assert len(seen) == 1 and sleeps.delays == []


async def test_other_exceptions_propagate_unretried() -> None:
    calls = 0

    async def broken() -> httpx.Response:
        nonlocal calls
        calls += 1
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await call_http(broken, policy=policy(Sleeps()), what="X")
    assert calls == 1


async def test_call_retries_what_retry_on_accepts() -> None:
    sleeps = Sleeps()
    failures = [ConnectionResetError("reset"), ConnectionResetError("reset")]

    async def flaky() -> str:
        if failures:
            raise failures.pop()
        return "done"

    result = await call(
        flaky,
        policy=policy(sleeps, base=1.0),
        retry_on=lambda exc: isinstance(exc, OSError),
        what="db",
    )
    assert result == "done" and sleeps.delays == [1.0, 2.0]

    async def refused() -> str:
        raise ValueError("never")

    with pytest.raises(ValueError):
        await call(refused, policy=policy(sleeps), retry_on=lambda e: isinstance(e, OSError), what="db")

    async def down() -> str:
        raise ConnectionRefusedError("down")

    with pytest.raises(Unavailable) as caught:
        await call(down, policy=policy(sleeps), retry_on=lambda e: isinstance(e, OSError), what="db")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base=-1)


async def test_also_retry_adds_a_protocols_own_later_answer() -> None:
    sleeps = Sleeps()
    client, seen = scripted(
        httpx.Response(409, json={"retry": True}), httpx.Response(409, json={"outcome": "result_conflict"})
    )
    resp = await call_http(
        lambda: client.get("/a"),
        policy=policy(sleeps),
        what="X",
        also_retry=lambda r: r.status_code == 409 and r.json().get("retry") is True,
    )
    assert resp.status_code == 409 and resp.json() == {"outcome": "result_conflict"}
    assert len(seen) == 2 and sleeps.delays == [0.2]


def test_the_consumers_outage_wait_is_the_shared_backoff() -> None:
    assert [outage_delay(n) for n in (1, 2, 3, 5, 6, 50)] == [0.4, 0.8, 1.6, 6.4, 10.0, 10.0]
