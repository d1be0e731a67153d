"""Two delivery workers on one database (the stack's status service and a second one started by
the test, as a second replica would be): every delivery is sent once, in order per application."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import httpx
from standardwebhooks import Webhook

from ail_shared import netguard
from ail_shared.secretbox import SecretBox
from ail_status.adapters.webhook_client import AiohttpWebhookSender
from ail_status.config import Settings as StatusSettings
from ail_status.domain.webhooks import RetryPolicy
from ail_status.service_layer.handlers import Context
from ail_status.service_layer.unit_of_work import StatusUnitOfWork
from ail_status.service_layer.workers import DeliveryWorker, WorkerConfig
from tests.integration.status.support import App, Enterprise, Publisher, Receiver
from tests.support import eventually


async def test_two_workers_send_each_delivery_once_and_in_order(
    db: asyncpg.Pool,
    stack: dict[str, str],
    publisher: Publisher,
    enterprise: Enterprise,
    enterprise_client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    # A slow receiver keeps deliveries in flight, and there are more applications (each with one
    # delivery in flight at a time) than the stack's worker may send at once, so the second worker
    # always finds due deliveries that the first cannot take.
    receiver.delay = 0.3
    stack_concurrency = StatusSettings.model_fields["webhook_concurrency"].default
    assert isinstance(stack_concurrency, int)
    r = await enterprise_client.post(
        "/api/v1/subscriptions", json={"url": receiver.url, "all_applications": True}
    )
    assert r.status_code == 201
    secret = r.json()["secret"]
    sender = AiohttpWebhookSender(
        timeout_seconds=5,
        connect_timeout_seconds=2,
        max_connections=8,
        policy=netguard.Policy(require_https=False, allow_loopback=True),  # as the stack's
    )
    second = DeliveryWorker(
        lambda: StatusUnitOfWork(db, default_retry_period=86400),
        sender,
        WorkerConfig(concurrency=8, lease_seconds=35, poll_seconds=0.02),
        Context(box=SecretBox.from_setting(stack["AIL_WEBHOOK_SECRET_KEYS"]), policy=RetryPolicy(1, 10)),
    )
    task = asyncio.create_task(second.run())
    try:
        apps = [App(enterprise.code) for _ in range(stack_concurrency + 16)]
        envs = []
        for a in apps:  # all on ail.submission: in order per application
            envs += [a.accepted(), a.review("first", "passed"), a.review("second", "rejected", "不符")]
        await publisher.publish(*envs)
        wanted = {str(e.event_id) for e in envs}

        async def arrived() -> bool:
            return wanted <= {r.headers["webhook-id"] for r in receiver.accepted()}

        await eventually(arrived, timeout=60, what="all deliveries")
    finally:
        second.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sender.aclose()

    ids = [r.headers["webhook-id"] for r in receiver.accepted()]
    assert len(ids) == len(set(ids))  # no delivery sent twice
    hook = Webhook(secret)
    per_app: dict[str, list[Any]] = {}
    for got in receiver.accepted():
        data = hook.verify(got.body, got.headers)["data"]
        per_app.setdefault(data["application_id"], []).append(data["event"]["id"])
    for a in apps:
        mine = [str(e.event_id) for e in envs if e.aggregate_id == a.application_id]
        assert [i for i in per_app[a.application_id] if i in wanted] == mine
    assert second.delivered > 0  # the second replica took part
