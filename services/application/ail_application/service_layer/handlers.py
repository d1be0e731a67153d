"""Command handlers of the application service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
from ail_shared.auth import Tenant

from ail_application.domain.model import Application, serial_no
from ail_application.service_layer.results import ensure_ekey_bound
from ail_application.service_layer.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class CreateDraft:
    form: dict[str, Any]
    year: int | None = None


@dataclass(frozen=True)
class SubmitApplication:
    application_id: UUID


async def create_draft(conn: asyncpg.Connection, tenant: Tenant, cmd: CreateDraft) -> Application:
    async with UnitOfWork(conn) as uow:
        year = cmd.year or date.today().year
        app = Application.new_draft(
            serial=serial_no(year, await uow.applications.next_serial()),
            enterprise_code=tenant.enterprise_code,
            year=year,
            form=cmd.form,
        )
        await uow.applications.add(uow.track(app))
    return app


async def submit(conn: asyncpg.Connection, tenant: Tenant, cmd: SubmitApplication) -> Application:
    async with UnitOfWork(conn) as uow:
        app = uow.track(
            await uow.applications.get(
                id=cmd.application_id, enterprise_codes=tenant.enterprise_codes, for_update=True
            )
        )
        await ensure_ekey_bound(conn, app.enterprise_code)
        app.submit(submitted_by=tenant.principal.id)
        await uow.applications.save(app)
    return app


COMMAND_HANDLERS = {CreateDraft: create_draft, SubmitApplication: submit}
