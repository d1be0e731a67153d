"""The MOFCOM HTTP adapter: idempotency key on every submission, the shared retry policy (5xx,
429 and time-outs retried, Retry-After honoured), refusals not retried, and failure returned
(never raised)."""

from __future__ import annotations

import httpx
import pytest

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


class Sleeps(list[float]):
    """The waits the adapter asked for (no real time passes)."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(
    handler: object, attempts: int = 3, sleeps: Sleeps | None = None
) -> tuple[HttpMofcom, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request, len(seen))  # type: ignore[operator]

    return HttpMofcom(
        "http://mofcom",
        attempts=attempts,
        backoff=0.0,
        transport=httpx.MockTransport(record),
        sleep=sleeps if sleeps is not None else Sleeps(),
    ), seen


ACCEPTED = {"form_no": "261100776367555000001", "applied_at": "2026-11-27T08:00:00+00:00"}


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


@pytest.mark.parametrize("code", [429, 503])
async def test_429_and_503_are_retried_after_the_wait_mofcom_asks_for(code: int) -> None:
    # Old code: a 429 came back as Refused (the submission rejected for good), and a 503's
    # Retry-After was ignored (the fixed backoff used instead).
    sleeps = Sleeps()

    def answer(request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            return httpx.Response(code, headers={"Retry-After": "7"})
        return httpx.Response(201, json=ACCEPTED)

    mofcom, seen = client(answer, sleeps=sleeps)
    outcome = await mofcom.submit(**SUBMIT)
    assert isinstance(outcome, Accepted)
    assert len(seen) == 2 and sleeps == [7.0]
    assert [r.headers["Idempotency-Key"] for r in seen] == ["sub-1", "sub-1"]


@pytest.mark.parametrize("code", [400, 409, 422])
async def test_refusals_are_answers_not_retried_whatever_the_headers(code: int) -> None:
    sleeps = Sleeps()
    body = {"error": {"code": "bad", "message": "no"}}
    mofcom, seen = client(
        lambda request, n: httpx.Response(code, json=body, headers={"Retry-After": "1"}), sleeps=sleeps
    )
    outcome = await mofcom.status(form_no="x")
    assert outcome == Refused("bad", "no", code, body)
    assert len(seen) == 1 and sleeps == []


async def test_running_out_of_attempts_is_unavailable_with_mofcoms_retry_after() -> None:
    # Old code: Unavailable had no retry_after (the sender could not honour MOFCOM's wish).
    sleeps = Sleeps()
    mofcom, seen = client(
        lambda request, n: httpx.Response(429, headers={"Retry-After": "90"}), attempts=2, sleeps=sleeps
    )
    outcome = await mofcom.register_certificate(enterprise_code="e", ekey_serial="s", certificate_pem="p")
    assert isinstance(outcome, Unavailable)
    assert outcome.retry_after == 90.0 and "429" in outcome.error
    assert len(seen) == 2 and sleeps == [30.0]  # one wait, capped by the policy


async def test_the_attachments_travel_in_the_submission_body_as_base64() -> None:
    import base64
    import json

    from ail_submission.adapters.mofcom import AttachmentFile

    mofcom, seen = client(lambda request, n: httpx.Response(201, json=ACCEPTED))
    scan = AttachmentFile("a-1", "合同.pdf", "application/pdf", "ab" * 32, b"%PDF-1.7 \x00\xff")
    assert isinstance(await mofcom.submit(**SUBMIT, attachments=[scan]), Accepted)
    [sent] = json.loads(seen[0].content)["attachments"]
    assert {k: sent[k] for k in ("id", "filename", "content_type", "sha256")} == {
        "id": "a-1",
        "filename": "合同.pdf",
        "content_type": "application/pdf",
        "sha256": "ab" * 32,
    }
    assert base64.b64decode(sent["content"]) == scan.content
