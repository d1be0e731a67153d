"""Wires the application service: settings, reference data, eligibility source, routers."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from ail_application.adapters.eligibility import CatalogueEligibility, EligibilityChecker
from ail_application.adapters.repository import SCHEMA
from ail_application.domain.reference import ReferenceData, load
from ail_application.service_layer.handlers import Context
from ail_shared.config import ServiceSettings
from ail_shared.http import Runtime


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIL_", extra="ignore")
    service_name: str = "application"
    http_port: int = 18101
    # Where pre-check eligibility comes from: the catalogue data, or MOFCOM (submission work).
    eligibility_source: Literal["catalogue", "mofcom"] = "mofcom"
    mofcom_url: str = "http://127.0.0.1:18201"
    # Key-agri filings: rounds of reporting to MOFCOM (exponential backoff) before giving up.
    filing_report_attempts: int = 6


def eligibility_checker(settings: Settings, ref: ReferenceData) -> EligibilityChecker:
    if settings.eligibility_source == "mofcom":
        from ail_application.adapters.mofcom_eligibility import MofcomEligibility

        return MofcomEligibility(settings.mofcom_url, ref)
    return CatalogueEligibility(ref)


def bootstrap(settings: Settings | None = None) -> FastAPI:
    from ail_application.entrypoints.api import router as applications
    from ail_application.entrypoints.consumers import consumers
    from ail_application.entrypoints.documents_api import router as documents
    from ail_application.entrypoints.forms_api import router as forms
    from ail_application.entrypoints.submission_api import router as submission
    from ail_application.service_layer.set_aside import on_event_set_aside
    from ail_shared.http import create_app

    settings = settings or Settings()
    ref = load()
    ctx = Context(ref=ref, eligibility=eligibility_checker(settings, ref))

    async def install(runtime: Runtime) -> None:
        from ail_application.adapters.mofcom_filing import FilingReporter, MofcomFilingClient

        runtime.extra["context"] = ctx
        reporter = FilingReporter(
            runtime.db(),
            MofcomFilingClient(settings.mofcom_url),
            max_attempts=settings.filing_report_attempts,
        )
        runtime.extra["filing_reporter"] = reporter
        runtime.tasks.append(asyncio.create_task(reporter.run(), name="filing-reporter"))

    async def uninstall(runtime: Runtime) -> None:
        reporter = runtime.extra.get("filing_reporter")
        if reporter is not None:
            reporter.stop()
            await reporter.client.aclose()

    app = create_app(
        settings=settings,
        schema=SCHEMA,
        title="Application service",
        description=(
            "Automatic Import License application form (自动进口许可证申请表): pre-check, drafts,"
            " contracts, copies, attachments, print, queries, code tables, key-agri filings."
            " Authenticate with `Authorization: Bearer <api key>`; agencies name the enterprise"
            " in `X-Enterprise-Code`. Errors: `{error: {code, message, details: [{field, reason}]}}`."
        ),
        routers=[submission, applications, forms, documents],
        consumers=consumers,
        on_startup=[install],
        on_shutdown=[uninstall],
        # An ApplicationSubmitted the broker refuses for good returns the application to draft.
        on_set_aside=on_event_set_aside,
    )
    app.state.runtime.extra["context"] = ctx
    # One schema per model (Decimal fields would otherwise split into -Input/-Output variants).
    app.separate_input_output_schemas = False
    return app
