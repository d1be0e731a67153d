"""Wires the submission service: settings, MOFCOM adapter, sender loop, routers, consumers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import FastAPI
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from ail_shared.config import PLACEHOLDER_SECRETS, ServiceSettings
from ail_shared.errors import ConfigError
from ail_shared.http import Runtime
from ail_submission.adapters.mofcom import HttpMofcom, Mofcom
from ail_submission.adapters.repository import SCHEMA
from ail_submission.entrypoints.api import internal, mofcom_callbacks, router
from ail_submission.entrypoints.consumers import consumers
from ail_submission.service_layer.ekey_wait import EkeyWaiter
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
    # How long a submission waits for its e-key while no signer host announces it (a signer
    # restart, a Kafka outage) before it fails with ekey_not_present (issue 10, item 3).
    # The secret MOFCOM signs its result callbacks with (HMAC-SHA256, ail_shared.auth).
    mofcom_callback_secret: SecretStr = SecretStr("")
    ekey_grace_minutes: float = Field(default=10.0, gt=0)
    ekey_wait_poll_seconds: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _callback_secret_is_real(self) -> Settings:
        if (
            self.env != "development"
            and self.mofcom_callback_secret.get_secret_value() in PLACEHOLDER_SECRETS
        ):
            raise ConfigError(
                "AIL_MOFCOM_CALLBACK_SECRET is a placeholder: set the secret shared with MOFCOM"
            )
        return self

    @property
    def ekey_grace(self) -> timedelta:
        return timedelta(minutes=self.ekey_grace_minutes)


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
        waiter = EkeyWaiter(rt.db(), grace=settings.ekey_grace, poll_seconds=settings.ekey_wait_poll_seconds)
        rt.extra["ekey_waiter"] = waiter
        rt.tasks.append(asyncio.create_task(waiter.run(), name="ekey-wait"))

    async def stop(rt: Runtime) -> None:
        sender = rt.extra.get("sender")
        if sender is not None:
            sender.stop()
        waiter = rt.extra.get("ekey_waiter")
        if waiter is not None:
            waiter.stop()
        client = rt.extra.get("mofcom")
        if isinstance(client, HttpMofcom):
            await client.aclose()

    return create_app(
        settings=settings,
        schema=SCHEMA,
        title="Submission service",
        description="Submissions to MOFCOM: e-keys and bindings, signing requests, MOFCOM adapter, "
        "review results, revoke, approval-status refresh.",
        routers=[router, internal, mofcom_callbacks],
        consumers=consumers,
        on_startup=[start],
        on_shutdown=[stop],
    )
