"""The MOFCOM HTTP adapter: idempotency key on every submission, bounded retries with backoff on
5xx and time-outs, refusals not retried, and failure returned (never raised)."""

from __future__ import annotations

import httpx

from ail_submission.adapters.mofcom import Accepted, HttpMofcom, Refused, Unavailable

SUBMIT = {
    "idempotency_key": "sub-1",
    "application_id": "app-1",
    "enterprise_code": "1100776367555",
    "ekey_serial": "abc",
    "payload_b64": "e30=",
    "signature": "c2ln",
    "algorithm": "ecdsa-p256-sha256",
}


def client(handler: object, attempts: int = 3) -> tuple[HttpMofcom, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request, len(seen))  # type: ignore[operator]

    return HttpMofcom(
        "http://mofcom", attempts=attempts, backoff=0.0, transport=httpx.MockTransport(record)
    ), seen


async def test_retries_5xx_and_timeouts_with_the_same_idempotency_key() -> None:
    def answer(request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            return httpx.Response(500)
        if n == 2:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(
            201, json={"form_no": "261100776367555000001", "applied_at": "2026-11-27T08:00:00+00:00"}
        )

    mofcom, seen = client(answer)
    outcome = await mofcom.submit(**SUBMIT)
    assert isinstance(outcome, Accepted) and outcome.form_no == "261100776367555000001"
    assert [r.headers["Idempotency-Key"] for r in seen] == ["sub-1"] * 3


async def test_gives_up_after_bounded_attempts_with_the_error() -> None:
    mofcom, seen = client(lambda request, n: httpx.Response(503))
    outcome = await mofcom.submit(**SUBMIT)
    assert isinstance(outcome, Unavailable) and "503" in outcome.error
    assert len(seen) == 3


async def test_refusal_is_not_retried() -> None:
    body = {"error": {"code": "signature_invalid", "message": "payload changed"}}
    mofcom, seen = client(lambda request, n: httpx.Response(422, json=body))
    outcome = await mofcom.submit(**SUBMIT)
    assert outcome == Refused("signature_invalid", "payload changed", 422, body)
    assert len(seen) == 1


async def test_revoke_refused_names_mofcoms_status() -> None:
    body = {"error": {"code": "not_revocable", "message": "reviewed", "status": "pending_second_review"}}
    mofcom, _ = client(lambda request, n: httpx.Response(409, json=body))
    outcome = await mofcom.revoke(form_no="x")
    assert isinstance(outcome, Refused) and outcome.body["error"]["status"] == "pending_second_review"
