"""Wires the application service: settings, reference data, eligibility source, the unit of
work, the filing reporter, routers and consumers, into one typed ``Deps``."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from fastapi import FastAPI

from ail_application.adapters.eligibility import CatalogueEligibility, EligibilityChecker
from ail_application.adapters.mofcom_filing import MofcomFilingClient
from ail_application.adapters.reference_data import load
from ail_application.adapters.repository import SCHEMA
from ail_application.config import Settings
from ail_application.domain.reference import ReferenceData
from ail_application.service_layer.handlers import Context
from ail_application.service_layer.unit_of_work import UnitOfWork
from ail_application.service_layer.workers import FilingReporter
from ail_shared.http import Runtime


@dataclass
class Deps:
    """What the routes and workers of the application service are given (``deps_of``)."""

    settings: Settings
    runtime: Runtime
    ctx: Context
    eligibility: EligibilityChecker
    filing_reporter: FilingReporter

    @property
    def ref(self) -> ReferenceData:
        return self.ctx.ref

    @property
    def pool(self) -> asyncpg.Pool:
        return self.runtime.db()

    def unit_of_work(self) -> UnitOfWork:
        """A unit of work on the pool: each ``async with`` is a transaction of its own."""
        return UnitOfWork(self.pool)


def deps_of(runtime: Runtime) -> Deps:
    deps = runtime.deps
    if not isinstance(deps, Deps):
        raise RuntimeError("the application service's dependencies are not installed (bootstrap)")
    return deps


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
    from ail_application.entrypoints.internal_api import router as internal
    from ail_application.entrypoints.license_api import router as licenses
    from ail_application.entrypoints.session_api import router as session
    from ail_application.entrypoints.submission_api import router as submission
    from ail_application.service_layer.set_aside import on_event_set_aside
    from ail_shared.http import create_app

    settings = settings or Settings()
    ref = load()
    filing_client = MofcomFilingClient(settings.mofcom_url)
    ctx = Context(
        ref=ref, filing_client=filing_client, filing_report_attempts=settings.filing_report_attempts
    )

    async def install(runtime: Runtime) -> None:
        deps_of(runtime).filing_reporter.start()

    async def uninstall(runtime: Runtime) -> None:
        await deps_of(runtime).filing_reporter.aclose()
        await filing_client.aclose()

    app = create_app(
        settings=settings,
        schema=SCHEMA,
        title="Application service",
        description=(
            "Automatic Import License application form (自动进口许可证申请表): pre-check, drafts,"
            " contracts, copies, attachments, print, queries, code tables, key-agri filings."
            " Authenticate with `Authorization: Bearer <api key>` (agencies name the enterprise"
            " in `X-Enterprise-Code`), or sign in at `/api/v1/session` (cookie `ail_session`;"
            " writes carry `X-CSRF-Token`). Errors: `{error: {code, message, details: [{field, reason}]}}`."
        ),
        routers=[submission, applications, forms, documents, licenses, internal, session],
        consumers=consumers,
        on_startup=[install],
        on_shutdown=[uninstall],
        # An ApplicationSubmitted the broker refuses for good returns the application to draft.
        on_set_aside=on_event_set_aside,
    )
    runtime: Runtime = app.state.runtime
    runtime.deps = Deps(
        settings=settings,
        runtime=runtime,
        ctx=ctx,
        eligibility=eligibility_checker(settings, ref),
        filing_reporter=FilingReporter(lambda: UnitOfWork(runtime.db()), ctx),
    )
    # One schema per model (Decimal fields would otherwise split into -Input/-Output variants).
    app.separate_input_output_schemas = False
    return app
