"""Wires the status service."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from ail_shared import topics
from ail_shared.config import ServiceSettings
from ail_shared.consumer import EventConsumer
from ail_shared.http import Runtime
from ail_status.adapters.repository import SCHEMA
from ail_status.entrypoints.api import router
from ail_status.service_layer.handlers import EVENT_HANDLERS


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIL_", extra="ignore")
    service_name: str = "status"
    http_port: int = 18103


def consumers(rt: Runtime) -> list[EventConsumer]:
    return [
        EventConsumer(
            name="status.lifecycle",
            topics=[topics.APPLICATION, topics.SUBMISSION, topics.SIGNER],
            handlers=dict(EVENT_HANDLERS),
            pool=rt.db(),
            schema=SCHEMA,
            bootstrap=rt.settings.kafka_bootstrap,
        )
    ]


def bootstrap(settings: Settings | None = None) -> FastAPI:
    from ail_shared.http import create_app

    settings = settings or Settings()
    return create_app(
        settings=settings,
        schema=SCHEMA,
        title="Status service",
        description="Lifecycle view and history, subscriptions, push.",
        routers=[router],
        consumers=consumers,
    )
