"""Wires the status service: settings, the lifecycle consumer, the notification listener, the
webhook delivery worker and the HTTP routers."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from ail_shared import topics
from ail_shared.consumer import EventConsumer
from ail_shared.http import Runtime
from ail_status.adapters.notifications import Notifications
from ail_status.adapters.repository import SCHEMA
from ail_status.adapters.webhook_client import HttpxWebhookSender
from ail_status.config import Settings, settings_of
from ail_status.entrypoints.api import router
from ail_status.entrypoints.ops_api import router as ops_router
from ail_status.entrypoints.stream_api import router as stream_router
from ail_status.entrypoints.subscriptions_api import router as subscriptions_router
from ail_status.service_layer.delivery_worker import DeliveryWorker, WorkerConfig, encrypt_secrets_at_rest
from ail_status.service_layer.handlers import event_handlers

__all__ = ["Settings", "bootstrap"]


def consumers(rt: Runtime) -> list[EventConsumer]:
    """``AIL_LIFECYCLE_CONSUMERS`` members of one consumer group in this process: they split the
    partitions, so one's commit wait overlaps another's work."""
    settings = settings_of(rt)
    return [
        EventConsumer(
            name="status.lifecycle",
            topics=[topics.APPLICATION, topics.SUBMISSION, topics.SIGNER, topics.CUSTOMS],
            handlers=event_handlers(default_retry_period=settings.webhook_retry_period_seconds),
            pool=rt.db(),
            schema=SCHEMA,
            bootstrap=settings.kafka_bootstrap,
        )
        for _ in range(settings.lifecycle_consumers)
    ]


async def start_push(rt: Runtime) -> None:
    settings = settings_of(rt)
    box = settings.secret_box()
    await encrypt_secrets_at_rest(rt.db(), box)
    notifications = Notifications(settings.pg_dsn)
    rt.extra["notifications"] = notifications
    rt.tasks.append(asyncio.create_task(notifications.run(), name="status-notifications"))
    if settings.run_delivery_worker:
        sender = HttpxWebhookSender(
            timeout_seconds=settings.webhook_timeout_seconds,
            connect_timeout_seconds=settings.webhook_connect_timeout_seconds,
            max_connections=settings.webhook_concurrency,
            policy=settings.url_policy(),
            resolver=settings.url_resolver(),
        )
        worker = DeliveryWorker(
            rt.db(),
            sender,
            WorkerConfig(
                concurrency=settings.webhook_concurrency,
                # a worker that stops answering gives its deliveries up after this
                lease_seconds=settings.webhook_timeout_seconds + 30,
                poll_seconds=settings.webhook_poll_seconds,
                policy=settings.retry_policy(),
            ),
            notifications.deliveries,
            box,
        )
        rt.extra["webhook_sender"] = sender
        rt.extra["delivery_worker"] = worker
        rt.tasks.append(asyncio.create_task(worker.run(), name="webhook-delivery-worker"))


async def stop_push(rt: Runtime) -> None:
    if "notifications" in rt.extra:
        rt.extra["notifications"].stop()
    if "delivery_worker" in rt.extra:
        rt.extra["delivery_worker"].stop()
    if "webhook_sender" in rt.extra:
        await rt.extra["webhook_sender"].aclose()


def bootstrap(settings: Settings | None = None) -> FastAPI:
    from ail_shared.http import create_app

    settings = settings or Settings()
    return create_app(
        settings=settings,
        schema=SCHEMA,
        title="Status service",
        description="Lifecycle view and history, subscriptions with signed webhooks, live stream, "
        "time in status.",
        routers=[router, subscriptions_router, stream_router, ops_router],
        consumers=consumers,
        on_startup=[start_push],
        on_shutdown=[stop_push],
    )
