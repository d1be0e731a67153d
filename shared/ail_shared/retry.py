"""The one retry-and-backoff policy for calls to external systems (MOFCOM, Customs, webhooks), on
tenacity.

What is retried (``retryable_status``, ``is_transport_failure``):

* no answer: a connection error or a timeout (``httpx.TransportError``);
* an answer that says "later": HTTP 429 (rate limited) and every 5xx (503 unavailable, 502/504
  gateways, and 500: an authority's internal error is its outage, not a verdict on our request).
  The wait before the next attempt honours the answer's ``Retry-After`` (seconds or an HTTP date),
  capped at ``RetryPolicy.retry_after_cap``; without one it is the backoff.

Everything else is an answer, returned to the caller at once and never retried: 2xx, and every
other 4xx (400, 401, 403, 404, 409, 422, ...) is a refusal that a retry would only repeat.

When the attempts run out, ``Unavailable`` is raised: "outage, try later", never "refused". It
carries the last error, the last status (if any answer came) and the last ``Retry-After``
(uncapped), so a background caller can schedule its next round no earlier than the authority asked.

The backoff formula, shared with ``ail_shared.workers`` and the consumer's outage waits::

    backoff(attempt, base, cap) = min(base * 2 ** (attempt - 1), cap)    # attempt = 1, 2, ...

API (stable; add, don't rename)::

    RetryPolicy(attempts=3, base=0.2, cap=5.0, retry_after_cap=30.0, sleep=asyncio.sleep, clock=now_utc)
    await call_http(send, policy=..., what="MOFCOM POST /x", also_retry=None) -> httpx.Response
    await call(fn, policy=..., retry_on=predicate, what="...") -> T
    Unavailable(what, error, attempts, status_code=None, retry_after=None)
    backoff(attempt, *, base, cap) -> float
    retryable_status(code) -> bool;  is_transport_failure(exc) -> bool
    retry_after_seconds(value, *, now) -> float | None

``send`` / ``fn`` are zero-argument coroutine functions (a lambda around ``client.request(...)``),
called once per attempt. Tests pass ``RetryPolicy(sleep=recorder)`` so no real time passes, and
``clock=`` to pin "now" for HTTP-date ``Retry-After`` values.

Callers: submission ``adapters/mofcom.py``, application ``adapters/mofcom_filing.py`` and
``adapters/mofcom_eligibility.py``, status ``adapters/webhook_client.py`` (``retry_after_seconds``
only: the delivery worker spreads its retries), customs ``adapters/customs_client.py``, and the
MOFCOM sandbox's review-result callbacks (``ail_sandbox/mofcom/app.py``).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import tenacity

from ail_shared import metrics
from ail_shared.logging import get_logger

log = get_logger("ail.retry")

T = TypeVar("T")

# 4xx statuses that mean "not now, later" (rate limited); every 5xx means the same.
RETRYABLE_4XX = frozenset({429})

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts and how long to wait between them.

    ``attempts`` counts every try (3 = the first and two retries). ``base`` / ``cap``: the backoff
    (see the module doc). ``retry_after_cap``: the longest ``Retry-After`` honoured within one
    call; a longer one is waited only that long (and reported in ``Unavailable.retry_after`` if
    the attempts run out). ``sleep`` and ``clock`` are injected by tests.
    """

    attempts: int = 3
    base: float = 0.2
    cap: float = 5.0
    retry_after_cap: float = 30.0
    sleep: Sleep = field(default=asyncio.sleep, compare=False, repr=False)
    clock: Clock = field(default=now_utc, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.base < 0 or self.cap < 0 or self.retry_after_cap < 0:
            raise ValueError("RetryPolicy waits must not be negative")


class Unavailable(Exception):
    """The external system did not answer usefully within the attempts: an outage, try later.

    Never raised for a refusal (a 4xx other than 429): that comes back as the response.
    """

    def __init__(
        self,
        what: str,
        error: str,
        attempts: int,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{what}: {error} (after {attempts} attempt{'s' if attempts != 1 else ''})")
        self.what = what
        self.error = error
        self.attempts = attempts
        self.status_code = status_code
        self.retry_after = retry_after


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """The wait after failure number ``attempt`` (1, 2, ...): base, 2*base, 4*base, ... at most cap."""
    if attempt < 1:
        return 0.0
    # The exponent is bounded so a long outage never overflows a float.
    return float(min(base * 2 ** min(attempt - 1, 30), cap))


def retryable_status(status_code: int) -> bool:
    """429 and every 5xx: the authority asks us (or is in no state but) to come back later."""
    return status_code in RETRYABLE_4XX or 500 <= status_code <= 599


def is_transport_failure(exc: BaseException) -> bool:
    """No answer at all: connection refused / reset, DNS, timeouts, a broken response stream."""
    return isinstance(exc, httpx.TransportError)


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """The wait a ``Retry-After`` header asks for: delta-seconds or an HTTP date; None if absent
    or unreadable. A date in the past means 0."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _describe(outcome: Any, what: str) -> tuple[str, int | None]:
    if isinstance(outcome, httpx.Response):
        return f"HTTP {outcome.status_code} from {what}", outcome.status_code
    exc = outcome
    return f"{type(exc).__name__} calling {what}: {exc}".strip().rstrip(":"), None


def _retry_after(outcome: Any, clock: Clock) -> float | None:
    if isinstance(outcome, httpx.Response):
        return retry_after_seconds(outcome.headers.get("Retry-After"), now=clock())
    return None


async def _run(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    what: str,
    retry_on_exception: Callable[[BaseException], bool],
    retry_on_result: Callable[[Any], bool],
    log_fields: dict[str, Any],
) -> T:
    def wait(state: tenacity.RetryCallState) -> float:
        assert state.outcome is not None
        outcome = state.outcome.exception() if state.outcome.failed else state.outcome.result()
        asked = _retry_after(outcome, policy.clock)
        if asked is not None:
            return min(asked, policy.retry_after_cap)
        return backoff(state.attempt_number, base=policy.base, cap=policy.cap)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None and state.next_action is not None
        outcome = state.outcome.exception() if state.outcome.failed else state.outcome.result()
        error, status = _describe(outcome, what)
        log.warning(
            "external_call_retry",
            what=what,
            attempt=state.attempt_number,
            status_code=status,
            error=error,
            retry_in=round(state.next_action.sleep, 3),
            **log_fields,
        )

    def gave_up(state: tenacity.RetryCallState) -> Any:
        assert state.outcome is not None
        failed = state.outcome.failed
        outcome = state.outcome.exception() if failed else state.outcome.result()
        error, status = _describe(outcome, what)
        asked = _retry_after(outcome, policy.clock)
        log.error(
            "external_call_unavailable",
            what=what,
            attempts=state.attempt_number,
            status_code=status,
            error=error,
            retry_after=asked,
            **log_fields,
        )
        exc = Unavailable(what, error, state.attempt_number, status_code=status, retry_after=asked)
        if failed:
            raise exc from outcome
        raise exc

    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=wait,
        retry=tenacity.retry_if_exception(retry_on_exception) | tenacity.retry_if_result(retry_on_result),
        sleep=policy.sleep,
        before_sleep=before_sleep,
        retry_error_callback=gave_up,
    )

    async def attempt() -> T:
        # tenacity awaits only coroutine functions; ``fn`` may be a lambda returning an awaitable.
        return await fn()

    result: T = await retrying(attempt)
    return result


async def call_http(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    policy: RetryPolicy,
    what: str,
    also_retry: Callable[[httpx.Response], bool] | None = None,
    **log_fields: Any,
) -> httpx.Response:
    """Call ``send`` until it gives an answer that is not "later" (see the module doc) and
    return that response, 2xx or refusal alike. Raises ``Unavailable`` when the attempts run out.

    ``also_retry``: an answer the caller's protocol defines as "later" too (the MOFCOM callback's
    409 with ``"retry": true``); never needed for the standard statuses.

    Only transport failures are retried among exceptions; anything else ``send`` raises (a bug,
    an ``httpx.DecodingError``) propagates at once.
    """

    def later(resp: Any) -> bool:
        if not isinstance(resp, httpx.Response):
            return False
        return retryable_status(resp.status_code) or (also_retry is not None and also_retry(resp))

    target = metrics.external_target(what)
    started = time.perf_counter()
    tries = 0

    async def counted() -> httpx.Response:
        nonlocal tries
        tries += 1
        return await send()

    outcome = "error"
    try:
        resp = await _run(
            counted,
            policy=policy,
            what=what,
            retry_on_exception=is_transport_failure,
            retry_on_result=later,
            log_fields=log_fields,
        )
        outcome = metrics.outcome_of_status(resp.status_code)
        return resp
    except Unavailable:
        outcome = "unavailable"
        raise
    finally:
        # One sample per call (its retries included): ail_external_calls_total and friends.
        metrics.external_call(target, outcome, time.perf_counter() - started, retries=max(0, tries - 1))


async def call(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    retry_on: Callable[[BaseException], bool],
    what: str,
    **log_fields: Any,
) -> T:
    """Call ``fn`` again (with the backoff) while it raises an exception ``retry_on`` accepts;
    return its result. Raises ``Unavailable`` (chained to the last exception) when the attempts
    run out; other exceptions propagate at once."""
    return await _run(
        fn,
        policy=policy,
        what=what,
        retry_on_exception=retry_on,
        retry_on_result=lambda _: False,
        log_fields=log_fields,
    )
