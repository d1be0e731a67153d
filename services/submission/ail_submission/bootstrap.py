"""Wires the submission service: settings, the typed dependencies (``Deps``: MOFCOM, the
application service, the clock, the workers), the command bus, routers, consumers, workers.

Handlers get their dependencies by parameter name (``inject``), as in cosmicpython's
``bootstrap.py``; tests call the handlers with fakes directly (tests/unit/submission/fakes.py)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import FastAPI, Request

from ail_shared import metrics
from ail_shared.events import Event
from ail_shared.http import Runtime
from ail_shared.retry import now_utc
from ail_submission.adapters import queries
from ail_submission.adapters.applications import ApplicationService, HttpApplicationService
from ail_submission.adapters.mofcom import HttpMofcom, Mofcom
from ail_submission.adapters.repository import SCHEMA
from ail_submission.config import Settings
from ail_submission.domain.commands import Command
from ail_submission.service_layer.handlers import COMMAND_HANDLERS, EVENT_HANDLERS, Clock, Handler, SendPolicy
from ail_submission.service_layer.unit_of_work import UnitOfWork
from ail_submission.service_layer.workers import EkeyWaiter, Sender


def inject(handler: Handler, dependencies: Mapping[str, object]) -> Handler:
    """``handler`` with the dependencies it names among its keyword parameters."""
    wanted = inspect.signature(handler).parameters
    return functools.partial(handler, **{k: v for k, v in dependencies.items() if k in wanted})


@dataclass
class Deps:
    """What the service's entrypoints and workers reach (``app.state.deps``, ``DepsDep``)."""

    settings: Settings
    mofcom: Mofcom
    applications: ApplicationService
    clock: Clock = now_utc
    pool: asyncpg.Pool | None = None  # set when the service starts
    sender: Sender | None = None
    ekey_waiter: EkeyWaiter | None = None

    def db(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError("the submission service has not started: no database pool yet")
        return self.pool

    def uow(self, source: asyncpg.Pool | asyncpg.Connection | None = None) -> UnitOfWork:
        return UnitOfWork(source if source is not None else self.db())

    def wake_sender(self) -> None:
        if self.sender is not None:
            self.sender.wake()

    def dependencies(self) -> dict[str, object]:
        return {
            "mofcom": self.mofcom,
            "applications": self.applications,
            "clock": self.clock,
            "grace": self.settings.ekey_grace,
            "send_policy": SendPolicy(
                max_attempts=self.settings.sender_max_attempts, max_backoff=self.settings.sender_max_backoff
            ),
            "wake_sender": self.wake_sender,
        }

    async def handle(self, cmd: Command, *, uow: UnitOfWork | None = None) -> Any:
        """Run the handler of ``cmd``'s type on ``uow`` (a new one on the pool by default)."""
        handler = inject(COMMAND_HANDLERS[type(cmd)], self.dependencies())
        return await handler(uow if uow is not None else self.uow(), cmd)

    def event_handlers(self) -> dict[type[Event], Handler]:
        return {t: inject(h, self.dependencies()) for t, h in EVENT_HANDLERS.items()}


async def deps_of(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def bootstrap(
    settings: Settings | None = None,
    mofcom: Mofcom | None = None,
    applications: ApplicationService | None = None,
) -> FastAPI:
    # The routers and consumers reach ``Deps`` through this module: imported here, not above.
    from ail_shared.http import create_app
    from ail_submission.entrypoints.api import router
    from ail_submission.entrypoints.consumers import consumers
    from ail_submission.entrypoints.internal_api import internal, mofcom_callbacks
    from ail_submission.entrypoints.ops_api import router as ops_router
    from ail_submission.entrypoints.signed_api import router as signed_router

    settings = settings or Settings()
    deps = Deps(
        settings=settings,
        mofcom=mofcom
        or HttpMofcom(
            settings.mofcom_url,
            timeout=settings.mofcom_timeout,
            attempts=settings.mofcom_attempts,
            backoff=settings.mofcom_backoff,
        ),
        applications=applications
        or HttpApplicationService(
            settings.application_url, internal_token=settings.internal_token.get_secret_value()
        ),
    )

    async def start(rt: Runtime) -> None:
        deps.pool = rt.db()
        deps.sender = Sender(deps.handle, concurrency=settings.sender_concurrency)
        rt.tasks.append(deps.sender.start())
        deps.ekey_waiter = EkeyWaiter(deps.handle, poll_seconds=settings.ekey_wait_poll_seconds)
        rt.tasks.append(deps.ekey_waiter.start())
        metrics.add_sampler("ekeys", functools.partial(queries.sample_ekey_metrics, rt.db()))

    async def stop(rt: Runtime) -> None:
        for worker in (deps.sender, deps.ekey_waiter):
            if worker is not None:
                await worker.aclose()
        for client in (deps.mofcom, deps.applications):
            if isinstance(client, HttpMofcom | HttpApplicationService):
                await client.aclose()

    app = create_app(
        settings=settings,
        schema=SCHEMA,
        title="Submission service",
        description="Submissions to MOFCOM: e-keys and bindings, signing requests, MOFCOM adapter, "
        "review results, revoke, approval-status refresh.",
        routers=[router, signed_router, ops_router, internal, mofcom_callbacks],
        consumers=functools.partial(consumers, deps=deps),
        on_startup=[start],
        on_shutdown=[stop],
    )
    app.state.deps = deps
    return app
