from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ail_status.adapters.webhook_client import HttpxWebhookSender
from ail_status.domain import webhooks
from ail_status.domain.webhooks import RetryPolicy, decide
from ail_status.entrypoints.stream_api import frame

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def test_signature_verifies_with_the_published_library() -> None:
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_") and len(webhooks.secret_key(secret)) == 32
    body = webhooks.body("application.submission_accepted", NOW.isoformat(), {"status": "审核", "n": 1})
    headers = webhooks.headers(secret, "msg_1", int(datetime.now(UTC).timestamp()), body)
    assert Webhook(secret).verify(body, headers)["data"] == {"n": 1, "status": "审核"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("审核".encode(), "通过".encode()), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(body, headers)
    # The library's own signature equals ours.
    ts = int(datetime.now(UTC).timestamp())
    ours = webhooks.sign(secret, "msg_2", ts, body)
    assert ours == Webhook(secret).sign("msg_2", datetime.fromtimestamp(ts, UTC), body.decode())


def test_body_is_stable() -> None:
    a = webhooks.body("t", "x", {"b": 1, "a": [1, 2]})
    assert a == webhooks.body("t", "x", {"a": [1, 2], "b": 1})
    assert json.loads(a) == {"type": "t", "timestamp": "x", "data": {"a": [1, 2], "b": 1}}


def test_backoff_doubles_up_to_the_cap() -> None:
    p = RetryPolicy(base_seconds=1, max_seconds=60, jitter=0)
    assert [p.delay(n, 0.5) for n in (1, 2, 3, 4, 7, 20)] == [1, 2, 4, 8, 60, 60]
    jittered = RetryPolicy(base_seconds=10, max_seconds=60, jitter=0.2)
    assert jittered.delay(1, 0.0) == pytest.approx(8) and jittered.delay(1, 0.999) == pytest.approx(
        12, abs=0.01
    )


def test_decisions() -> None:
    p = RetryPolicy(base_seconds=1, max_seconds=60, jitter=0)
    deadline = NOW + timedelta(seconds=10)
    assert (
        decide(p, ok=True, error=None, attempt_no=3, now=NOW, deadline=deadline, rand=0).state == "delivered"
    )
    d = decide(p, ok=False, error="HTTP 500", attempt_no=3, now=NOW, deadline=deadline, rand=0)
    assert d.state == "pending" and d.retry_at == NOW + timedelta(seconds=4) and d.error == "HTTP 500"
    # The last attempt is at the deadline itself ...
    d = decide(p, ok=False, error="HTTP 500", attempt_no=5, now=NOW, deadline=deadline, rand=0)
    assert d.retry_at == deadline
    # ... and a failure at or after it ends the delivery.
    d = decide(p, ok=False, error="timeout", attempt_no=6, now=deadline, deadline=deadline, rand=0)
    assert d.state == "failed" and d.retry_at is None
    assert d.error == "retry period ended after 6 attempts; last: timeout"


@pytest.mark.parametrize(
    ("url", "private", "problems"),
    [
        ("https://hooks.example.com/ail?x=1", False, 0),
        ("http://127.0.0.1:8080/hook", True, 0),
        ("http://127.0.0.1:8080/hook", False, 1),
        ("http://localhost/hook", False, 1),
        ("http://10.1.2.3/hook", False, 1),
        ("ftp://example.com/x", True, 1),
        ("https://u:p@example.com/x", True, 1),
        ("https:///nohost", True, 1),
        ("javascript:alert(1)", True, 2),
        ("https://example.com:99999/", True, 1),
        ("https://example.com/#frag", True, 1),
        ("https://example.com/" + "a" * 3000, True, 1),
    ],
)
def test_url_problems(url: str, private: bool, problems: int) -> None:
    assert len(webhooks.url_problems(url, allow_private=private)) == problems


async def test_sender_outcomes() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ok":
            assert request.headers["webhook-id"] == "m"
            return httpx.Response(204)
        if request.url.path == "/redirect":
            return httpx.Response(302, headers={"location": "/ok"})
        if request.url.path == "/slow":
            raise httpx.ReadTimeout("slow", request=request)
        if request.url.path == "/down":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(500, text="boom" * 500)

    sender = HttpxWebhookSender(
        timeout_seconds=1,
        connect_timeout_seconds=1,
        max_connections=2,
        transport=httpx.MockTransport(handler),
    )
    try:
        ok = await sender.send("http://r/ok", {"webhook-id": "m"}, b"{}")
        assert ok.ok and ok.status_code == 204 and ok.error is None
        redirect = await sender.send("http://r/redirect", {}, b"{}")
        assert not redirect.ok and redirect.error == "HTTP 302"
        slow = await sender.send("http://r/slow", {}, b"{}")
        assert not slow.ok and slow.status_code is None and slow.error == "timeout: ReadTimeout"
        down = await sender.send("http://r/down", {}, b"{}")
        assert not down.ok and down.error is not None and down.error.startswith("ConnectError")
        err = await sender.send("http://r/err", {}, b"{}")
        assert err.status_code == 500 and err.response_body is not None and len(err.response_body) == 500
    finally:
        await sender.aclose()


def test_sse_frame() -> None:
    text = frame(7, "SubmissionAccepted", {"a": "中", "n": 1})
    assert text == 'id: 7\nevent: application.submission_accepted\ndata: {"a":"中","n":1}\n\n'
