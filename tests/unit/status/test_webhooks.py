from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ail_shared import netguard
from ail_shared.errors import ConfigError
from ail_shared.secretbox import SecretBox, generate_key_ring
from ail_status.adapters.webhook_client import AiohttpWebhookSender, Outcome
from ail_status.config import Settings
from ail_status.domain import webhooks
from ail_status.domain.model import WEBHOOK_TYPES
from ail_status.domain.webhooks import Claimed, RetryPolicy, decide
from ail_status.entrypoints.stream_api import frame
from ail_status.entrypoints.subscriptions_api import (
    SubscriptionIn,
    _problems,
    event_type_problems,
    url_problems,
)
from ail_status.service_layer.workers import DeliveryWorker, WorkerConfig
from tests.unit.status.fakes import FakeDelivery, FakeUnitOfWork, context
from tests.unit.status.support import LocalReceiver, tls_pair

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


PUBLIC_ADDRESS = "93.184.216.34"  # never contacted: the guard refuses before connecting, or the
# resolver answers 127.0.0.1 where the test's receiver listens (tests/unit/status/support.py)


def resolver_of(answers: list[list[str]]) -> tuple[netguard.Resolver, list[str]]:
    """A resolver that gives the next answer each time (a name that changes its mind)."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[min(len(asked), len(answers)) - 1]

    return resolve, asked


def sender_with(
    resolver: netguard.Resolver,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 10.0,  # generous: a loaded CI machine must not turn an answer into a timeout
    **policy: Any,
) -> AiohttpWebhookSender:
    return AiohttpWebhookSender(
        timeout_seconds=timeout,
        connect_timeout_seconds=timeout,
        max_connections=2,
        policy=netguard.Policy(**{"require_https": False, "allow_loopback": True, **policy}),
        resolver=resolver,
        ssl_context=ssl_context,
    )


async def _no_content(request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)


# production settings need a real service credential (ail_shared.config)
SERVICE_TOKEN = "t" * 40


@pytest.fixture(autouse=True)
def _no_stack_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings here come from each test's arguments, not from the stack's environment that
    ./dev test exports (it enables loopback webhooks for the integration tests)."""
    for name in ("AIL_ENV", "AIL_WEBHOOK_ALLOW_LOOPBACK", "AIL_WEBHOOK_DNS", "AIL_WEBHOOK_SECRET_KEYS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("settings", "url", "problems"),
    [
        ({"env": "development"}, "http://127.0.0.1:8080/hook", ["127.0.0.1 is a loopback address"]),
        ({"env": "development"}, "http://[::1]:8080/hook", ["::1 is a loopback address"]),
        ({"env": "development"}, "http://localhost:8080/hook", ["localhost is a loopback name"]),
        ({"env": "development", "webhook_allow_loopback": True}, "http://127.0.0.1:8080/hook", []),
        ({"env": "development", "webhook_allow_loopback": True}, "http://2130706433/", ["is 127.0.0.1"]),
        ({"env": "development", "webhook_allow_loopback": True}, "http://10.0.0.1/", ["private"]),
        (
            {
                "env": "production",
                "internal_token": SERVICE_TOKEN,
                "webhook_secret_keys": generate_key_ring(),
            },
            "http://hooks.example.com/",
            ["https"],
        ),
        (
            {
                "env": "production",
                "internal_token": SERVICE_TOKEN,
                "webhook_secret_keys": generate_key_ring(),
            },
            "https://hooks.example.com/",
            [],
        ),
    ],
)
async def test_subscription_url_check_follows_the_settings(
    settings: dict[str, Any], url: str, problems: list[str]
) -> None:
    """Loopback only with AIL_WEBHOOK_ALLOW_LOOPBACK (off by default, development only); https
    only outside development."""
    config = Settings(**settings)
    resolve, _ = resolver_of([[PUBLIC_ADDRESS]] if "example" in url else [["127.0.0.1"]])
    found = await url_problems(url, config.url_policy(), resolve)
    assert [p.field for p in found] == ["url"] * len(problems)
    for problem, expected in zip(found, problems, strict=True):
        assert expected in problem.reason


def test_loopback_setting_and_key_ring_are_refused_outside_development() -> None:
    with pytest.raises(ConfigError, match="development only"):
        Settings(
            env="production",
            internal_token=SERVICE_TOKEN,
            webhook_allow_loopback=True,
            webhook_secret_keys=generate_key_ring(),
        )
    with pytest.raises(ConfigError, match="AIL_WEBHOOK_SECRET_KEYS is not set"):
        Settings(env="production", internal_token=SERVICE_TOKEN)
    with pytest.raises(ConfigError, match="32"):
        Settings(env="production", internal_token=SERVICE_TOKEN, webhook_secret_keys="k1:c2hvcnQ=")
    assert Settings(env="development").secret_box().current == "dev"


async def test_sender_connects_to_the_checked_address_with_the_name_for_host_and_tls() -> None:
    # The name resolves (here) to 127.0.0.1 only, where the receiver listens with a certificate
    # for the name: the POST arriving there over verified TLS shows the connection went to the
    # checked address while TLS (SNI, certificate check) and the Host header used the name.
    server_tls, client_tls = tls_pair("hooks.example.com")
    receiver = await LocalReceiver(_no_content).start(tls=server_tls)
    resolve, asked = resolver_of([["127.0.0.1"]])
    sender = sender_with(resolve, ssl_context=client_tls, require_https=True)
    try:
        url = f"https://hooks.example.com:{receiver.port}/ail?x=1"
        ok = await sender.send(url, {"webhook-id": "m"}, b"{}")
    finally:
        await sender.aclose()
        await receiver.stop()
    assert ok.ok and asked == ["hooks.example.com"], ok
    (request,) = receiver.seen
    assert request.path == "/ail" and request.query == "x=1"
    assert request.headers["Host"] == f"hooks.example.com:{receiver.port}"
    assert request.headers["webhook-id"] == "m"
    assert receiver.sni == ["hooks.example.com"]


async def test_a_certificate_of_another_name_is_not_accepted() -> None:
    server_tls, client_tls = tls_pair("other.example.com")
    receiver = await LocalReceiver(_no_content).start(tls=server_tls)
    resolve, _ = resolver_of([["127.0.0.1"]])
    sender = sender_with(resolve, ssl_context=client_tls, require_https=True)
    try:
        outcome = await sender.send(f"https://hooks.example.com:{receiver.port}/ail", {}, b"{}")
    finally:
        await sender.aclose()
        await receiver.stop()
    assert not outcome.ok and outcome.status_code is None and receiver.seen == []
    assert outcome.error is not None and outcome.error.startswith("ConnectError"), outcome


@pytest.mark.parametrize(
    "internal",
    [["127.0.0.1"], ["10.0.0.7"], ["169.254.169.254"], [PUBLIC_ADDRESS, "::1"], ["::ffff:127.0.0.1"]],
)
async def test_a_name_that_turns_internal_after_subscription_is_refused_before_connecting(
    internal: list[str],
) -> None:
    """Subscribed while the name answered a public address; at send time it answers an internal
    one: no connection is made, and the attempt says why."""
    receiver = await LocalReceiver(_no_content).start()
    resolve, asked = resolver_of([[PUBLIC_ADDRESS], internal])
    policy = netguard.Policy(require_https=False)
    assert await url_problems(f"http://hooks.example.com:{receiver.port}/ail", policy, resolve) == []
    sender = sender_with(resolve, allow_loopback=False)
    try:
        outcome = await sender.send(f"http://hooks.example.com:{receiver.port}/ail", {}, b"{}")
    finally:
        await sender.aclose()
        await receiver.stop()
    assert asked == ["hooks.example.com", "hooks.example.com"]  # resolved again at send
    assert receiver.seen == []
    assert not outcome.ok and outcome.status_code is None and outcome.response_body is None
    assert outcome.error is not None and outcome.error.startswith(
        "refused before connecting: hooks.example.com"
    )


async def test_sender_tries_the_next_checked_address_when_one_refuses() -> None:
    # Nothing listens on 127.0.0.2 (the receiver is bound to 127.0.0.1 only): refused there,
    # then sent to the next checked address.
    receiver = await LocalReceiver(_no_content).start()
    url = f"http://hooks.example.com:{receiver.port}/"
    only_refusing, _ = resolver_of([["127.0.0.2"]])
    both, _ = resolver_of([["127.0.0.2", "127.0.0.1"]])
    try:
        refused = await (s := sender_with(only_refusing)).send(url, {}, b"{}")
        await s.aclose()
        ok = await (s := sender_with(both)).send(url, {}, b"{}")
        await s.aclose()
    finally:
        await receiver.stop()
    assert refused.error is not None and refused.error.startswith("ConnectError"), refused
    assert ok.ok and len(receiver.seen) == 1


async def test_sender_outcomes_keep_no_answer_body() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/ok":
            assert request.headers["webhook-id"] == "m"
            return web.Response(status=200, text="internal data")
        if request.path == "/redirect":
            return web.Response(status=302, headers={"location": "/ok"})
        if request.path == "/slow":
            await asyncio.sleep(1)  # past the impatient sender's timeout below
            return web.Response(status=204)
        return web.Response(status=500, text="root:x:0:0:root:/root:/bin/bash " * 50)

    receiver = await LocalReceiver(handler).start()
    resolve, _ = resolver_of([["127.0.0.1"]])
    sender = sender_with(resolve)
    base = f"http://r.example.com:{receiver.port}"
    try:
        ok = await sender.send(f"{base}/ok", {"webhook-id": "m"}, b"{}")
        assert ok.ok and ok.status_code == 200 and ok.error is None and ok.response_body is None
        redirect = await sender.send(f"{base}/redirect", {}, b"{}")
        assert not redirect.ok and redirect.error == "HTTP 302 Found"
        assert [x.path for x in receiver.seen] == ["/ok", "/redirect"]  # not followed
        impatient = sender_with(resolve, timeout=0.2)
        try:
            slow = await impatient.send(f"{base}/slow", {}, b"{}")
        finally:
            await impatient.aclose()
        assert not slow.ok and slow.status_code is None and slow.error == "timeout: ReadTimeout"
        down = await sender.send("http://r.example.com:1/down", {}, b"{}")
        assert not down.ok and down.error is not None and down.error.startswith("ConnectError")
        err = await sender.send(f"{base}/err", {}, b"{}")
        # issue 10: the receiver's answer (here an internal file) never reaches the delivery log
        assert err.status_code == 500 and err.response_body is None
        assert err.error == "HTTP 500 Internal Server Error"
    finally:
        await sender.aclose()
        await receiver.stop()


async def test_worker_records_a_refused_send_and_signs_with_the_decrypted_secret() -> None:
    box = SecretBox.from_setting(generate_key_ring())
    secret = webhooks.new_secret()
    sub_id = uuid.uuid4()
    sent: list[tuple[str, dict[str, str], bytes]] = []

    class Sender:
        def __init__(self, outcome: Outcome) -> None:
            self.outcome = outcome

        async def send(self, url: str, headers: dict[str, str], body: bytes) -> Outcome:
            sent.append((url, headers, body))
            return self.outcome

        async def aclose(self) -> None:
            return None

    def claimed(token: str) -> Claimed:
        return Claimed(
            row_id=1,
            public_id=uuid.uuid4(),
            subscription_id=sub_id,
            application_id="a",
            event_id=uuid.uuid4(),
            attempt_no=1,
            deadline=NOW,
            created_at=NOW,
            url="http://hooks.example.com/ail",
            secret=token,
            payload={"n": 1},
            event_type="SubmissionAccepted",
            occurred_at=NOW,
        )

    config = WorkerConfig(concurrency=1, lease_seconds=1, poll_seconds=1)
    refused = Outcome(None, "refused before connecting: hooks.example.com resolves to 127.0.0.1: ...")
    worker = DeliveryWorker(FakeUnitOfWork, Sender(refused), config, context(box=box))  # type: ignore[arg-type]
    token = box.encrypt(secret, aad=webhooks.aad(sub_id))
    await worker._deliver(claimed(token))
    ((attempt, ok),) = worker._results
    assert not ok and attempt.error == refused.error and attempt.body is None
    url, headers, body = sent[0]
    assert Webhook(secret).verify(body, headers)["data"] == {"n": 1}
    # a secret still in clear (a row from before encryption) is used as it is
    worker._results.clear()
    await worker._deliver(claimed(secret))
    assert Webhook(secret).verify(sent[1][2], sent[1][1])["data"] == {"n": 1}
    # a token moved to another subscription's row does not open: not sent, said why
    worker._results.clear()
    await worker._deliver(claimed(box.encrypt(secret, aad=webhooks.aad(uuid.uuid4()))))
    assert len(sent) == 2 and worker._results[0][0].error.startswith("cannot sign")  # type: ignore[union-attr]
    # the receiver's Retry-After travels with the attempt to the recorder's decision
    worker._results.clear()
    worker.sender = Sender(Outcome(503, "HTTP 503 Service Unavailable", retry_after=30.0))
    await worker._deliver(claimed(token))
    assert worker._results[0][0].retry_after == 30.0


def test_sse_frame() -> None:
    text = frame(7, "SubmissionAccepted", {"a": "中", "n": 1})
    assert text == 'id: 7\nevent: application.submission_accepted\ndata: {"a":"中","n":1}\n\n'


async def test_outcomes_are_recorded_again_after_a_deadlock() -> None:
    """A deadlock rolls the recording transaction back whole: the same outcomes are recorded
    again, not dropped (dropped, every delivery of the batch would be sent again after its lease)."""
    import asyncpg

    uow = FakeUnitOfWork()
    deadlock = asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
    uow.subscriptions.fail_recording = [deadlock, deadlock]
    d = FakeDelivery(1, uuid.uuid4(), uuid.uuid4(), "a", uuid.uuid4(), 1, 60, attempts=1)
    uow.store.deliveries.append(d)
    c = Claimed(
        row_id=1,
        public_id=d.public_id,
        subscription_id=d.subscription_id,
        application_id="a",
        event_id=d.event_id,
        attempt_no=1,
        deadline=NOW + timedelta(hours=1),
        created_at=NOW,
        url="https://hooks.example.com/ail",
        secret="",
        payload={},
        event_type="SubmissionAccepted",
        occurred_at=NOW,
    )
    config = WorkerConfig(concurrency=1, lease_seconds=1, poll_seconds=1)
    worker = DeliveryWorker(lambda: uow, None, config, context())  # type: ignore[arg-type]
    worker._results = [(webhooks.Attempt(c, NOW, 1.0, 200, None, None), True)]
    await worker._flush()
    assert uow.subscriptions.fail_recording == [] and len(uow.store.attempts) == 1
    assert uow.store.deliveries[0].state == "delivered" and worker.delivered == 1 and worker._results == []


def test_event_types_absent_means_every_type_and_valid_ones_pass() -> None:
    assert event_type_problems(None) == []
    assert event_type_problems(["application.license_issued", "application.clearance_recorded"]) == []
    assert event_type_problems(list(WEBHOOK_TYPES)) == []


def test_bad_event_types_name_every_problem_at_once() -> None:
    problems = event_type_problems(
        ["application.license_issued", "LicenseIssued", "application.license_issued", "application.nope"]
    )
    fields = [p.field for p in problems]
    assert fields == ["event_types", "event_types.1", "event_types.3"]
    assert "more than once" in problems[0].reason
    assert "'LicenseIssued'" in problems[1].reason and "application.clearance_recorded" in problems[1].reason
    (empty,) = event_type_problems([])
    assert empty.field == "event_types" and "leave event_types out" in empty.reason
    too_many = event_type_problems([*WEBHOOK_TYPES, "application.license_issued"])
    assert too_many[0].field == "event_types" and f"at most {len(WEBHOOK_TYPES)}" in too_many[0].reason


def test_event_type_problems_come_with_the_others() -> None:
    body = SubscriptionIn(url="https://hooks.example.com/x", event_types=["x"], retry_period_seconds=0)
    assert {p.field for p in _problems(body)} == {"event_types.0", "application_ids", "retry_period_seconds"}


async def test_the_recorder_frees_a_held_queue_again_on_its_next_pass() -> None:
    """The worker keeps what a batch handed back (``RecordedOutcomes.recheck``) and runs the
    recorder again soon, with no new outcome, until the queue is freed under its lock."""
    uow = FakeUnitOfWork()
    sub_id, app = uuid.uuid4(), "app-held"
    uow.store.held_by_consumer = {app}
    config = WorkerConfig(concurrency=1, lease_seconds=1, poll_seconds=1, recheck_seconds=0.01)
    worker = DeliveryWorker(lambda: uow, None, config, context())  # type: ignore[arg-type]
    worker._recheck = ((sub_id, app),)
    assert await worker._record() == 0.01  # still held: again soon
    assert worker._recheck == ((sub_id, app),) and uow.store.unparked == [[(sub_id, app)]]
    uow.store.held_by_consumer = set()
    assert await worker._record() is None  # freed under the lock: back to the poll interval
    assert worker._recheck == () and uow.store.locked == [app]
    assert await worker._record() is None and len(uow.store.unparked) == 2  # nothing more to do
