"""Wires the status service: settings, the typed dependencies (``Deps``), the lifecycle
consumer, the notification listener, the webhook delivery worker and the HTTP routers."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from ail_shared.consumer import EventConsumer
from ail_shared.http import Runtime
from ail_shared.workers import Worker
from ail_status.adapters.notifications import Notifications
from ail_status.adapters.repository import SCHEMA
from ail_status.adapters.webhook_client import AiohttpWebhookSender
from ail_status.config import Settings
from ail_status.domain.commands import EncryptSecretsAtRest
from ail_status.entrypoints.api import router
from ail_status.entrypoints.consumers import lifecycle_consumers
from ail_status.entrypoints.dead_letters_api import router as dead_letters_router
from ail_status.entrypoints.ops_api import router as ops_router
from ail_status.entrypoints.stream_api import router as stream_router
from ail_status.entrypoints.subscriptions_api import router as subscriptions_router
from ail_status.service_layer.deps import Deps
from ail_status.service_layer.handlers import Context, handle
from ail_status.service_layer.workers import DeliveryWorker, WorkerConfig, listener

__all__ = ["Settings", "bootstrap"]


def deps_of(rt: Runtime) -> Deps:
    if not isinstance(rt.deps, Deps):
        raise RuntimeError("the status service's dependencies are not built yet")
    return rt.deps


def bootstrap(settings: Settings | None = None) -> FastAPI:
    from ail_shared.http import create_app

    settings = settings or Settings()
    stoppable: list[Worker | DeliveryWorker] = []
    senders: list[AiohttpWebhookSender] = []

    async def start(rt: Runtime) -> None:
        ctx = Context(box=settings.secret_box(), policy=settings.retry_policy())
        notifications = Notifications(settings.pg_dsn)
        deps = Deps(settings=settings, pool=rt.db(), ctx=ctx, notifications=notifications)
        rt.deps = deps
        await handle(deps.uow(), EncryptSecretsAtRest(), ctx)
        listening = listener(notifications)
        stoppable.append(listening)
        rt.tasks.append(listening.start())
        if settings.run_delivery_worker:
            sender = AiohttpWebhookSender(
                timeout_seconds=settings.webhook_timeout_seconds,
                connect_timeout_seconds=settings.webhook_connect_timeout_seconds,
                max_connections=settings.webhook_concurrency,
                policy=settings.url_policy(),
                resolver=settings.url_resolver(),
            )
            worker = DeliveryWorker(
                deps.uow,
                sender,
                WorkerConfig(
                    concurrency=settings.webhook_concurrency,
                    # a worker that stops answering gives its deliveries up after this
                    lease_seconds=settings.webhook_timeout_seconds + 30,
                    poll_seconds=settings.webhook_poll_seconds,
                ),
                ctx,
            )
            notifications.on_deliveries(worker.wake)
            senders.append(sender)
            stoppable.append(worker)
            rt.tasks.append(asyncio.create_task(worker.run(), name="webhook-delivery-worker"))

    async def stop(rt: Runtime) -> None:
        for w in stoppable:
            w.stop()
        for sender in senders:
            await sender.aclose()

    def consumers(rt: Runtime) -> list[EventConsumer]:
        return lifecycle_consumers(deps_of(rt))

    return create_app(
        settings=settings,
        schema=SCHEMA,
        title="Status service",
        description="Lifecycle view and history, subscriptions with signed webhooks, live stream, "
        "time in status.",
        routers=[router, subscriptions_router, stream_router, ops_router, dead_letters_router],
        consumers=consumers,
        on_startup=[start],
        on_shutdown=[stop],
    )
