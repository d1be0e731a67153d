"""Wires the submission service: settings, MOFCOM adapter, sender loop, routers, consumers."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from ail_shared.config import ServiceSettings
from ail_shared.http import Runtime
from ail_submission.adapters.mofcom import HttpMofcom, Mofcom
from ail_submission.adapters.repository import SCHEMA
from ail_submission.entrypoints.api import internal, router
from ail_submission.entrypoints.consumers import consumers
from ail_submission.service_layer.sender import Sender


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIL_", extra="ignore")
    service_name: str = "submission"
    http_port: int = 18102
    pg_pool_max: int = 20
    mofcom_url: str = "http://127.0.0.1:18201"
    application_url: str = "http://127.0.0.1:18101"
    mofcom_timeout: float = 2.0
    mofcom_attempts: int = 3
    mofcom_backoff: float = 0.2
    sender_concurrency: int = 32
    sender_max_attempts: int = 40
    sender_max_backoff: float = 20.0
    consumer_members: int = 3  # group members per topic in this process (partitions are shared)


def bootstrap(settings: Settings | None = None, mofcom: Mofcom | None = None) -> FastAPI:
    from ail_shared.http import create_app

    settings = settings or Settings()

    async def start(rt: Runtime) -> None:
        client = mofcom or HttpMofcom(
            settings.mofcom_url,
            timeout=settings.mofcom_timeout,
            attempts=settings.mofcom_attempts,
            backoff=settings.mofcom_backoff,
        )
        rt.extra["mofcom"] = client
        sender = Sender(
            rt.db(),
            client,
            concurrency=settings.sender_concurrency,
            max_attempts=settings.sender_max_attempts,
            max_backoff=settings.sender_max_backoff,
        )
        rt.extra["sender"] = sender
        rt.tasks.append(asyncio.create_task(sender.run(), name="mofcom-sender"))

    async def stop(rt: Runtime) -> None:
        sender = rt.extra.get("sender")
        if sender is not None:
            sender.stop()
        client = rt.extra.get("mofcom")
        if isinstance(client, HttpMofcom):
            await client.aclose()

    return create_app(
        settings=settings,
        schema=SCHEMA,
        title="Submission service",
        description="Submissions to MOFCOM: e-keys and bindings, signing requests, MOFCOM adapter, "
        "review results, revoke, approval-status refresh.",
        routers=[router, internal],
        consumers=consumers,
        on_startup=[start],
        on_shutdown=[stop],
    )
