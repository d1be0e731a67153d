"""Wires the application service: settings, routers, consumers."""

from __future__ import annotations

from ail_shared.config import ServiceSettings
from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from ail_application.adapters.repository import SCHEMA
from ail_application.entrypoints.api import router
from ail_application.entrypoints.consumers import consumers
from ail_application.entrypoints.submission_api import router as submission_router


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIL_", extra="ignore")
    service_name: str = "application"
    http_port: int = 18101
    mofcom_url: str = "http://127.0.0.1:18201"


def bootstrap(settings: Settings | None = None) -> FastAPI:
    from ail_shared.http import create_app

    settings = settings or Settings()
    return create_app(
        settings=settings,
        schema=SCHEMA,
        title="Application service",
        description="Drafts, the application form, attachments, print, queries, code tables.",
        routers=[submission_router, router],
        consumers=consumers,
    )
