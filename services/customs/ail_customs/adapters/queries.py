"""Read-side SQL for the query endpoints (tenant-scoped). Each function takes the pool and reads
one consistent snapshot; the routes never see a connection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from ail_customs.adapters.repository import SCHEMA, LicenseRepository, license_from
from ail_customs.domain.model import License
from ail_shared.auth import Tenant
from ail_shared.calendar import CHINA
from ail_shared.errors import NotFound
from ail_shared.http import Caller

STATUS_FILTER = f"""
FROM {SCHEMA}.applications a LEFT JOIN {SCHEMA}.licenses l ON l.license_no = a.license_no
WHERE a.enterprise_code = ANY($1::text[])
  AND a.application_status IN ('approved', 'license_issued')
  AND ($2::int IS NULL OR a.year = $2)
  AND ($3::text IS NULL OR a.serial_no = $3)
  AND ($4::text IS NULL OR a.license_no = $4)
  AND ($5::date IS NULL OR (a.applied_at AT TIME ZONE $7::text)::date >= $5)
  AND ($6::date IS NULL OR (a.applied_at AT TIME ZONE $7::text)::date <= $6)
"""

STATUS_PAGE = (
    "SELECT a.application_id, a.serial_no, a.license_no, a.form_no, a.year, a.commodity_code,"
    " a.commodity_name, a.application_status, a.applied_at, l.customs_status,"
    " l.last_delivery_detail, l.delivery_rounds, l.next_delivery_at, l.state AS license_state,"
    " l.state_reason AS license_state_reason, l.replaced_by, l.cancellation_status"
    f" {STATUS_FILTER} ORDER BY a.applied_at DESC NULLS LAST, a.application_id"
    " LIMIT $8 OFFSET $9"
)

ENTRIES = f"""
SELECT entry_no, kind, declaration_no, quantity, occurred_at, reason, detail, used_after,
    uses_after, recorded_at
FROM {SCHEMA}.ledger_entries WHERE license_no = $1 ORDER BY entry_no
"""

DECLARATIONS = f"""
SELECT declaration_no, declared_at, port, quantity, lines, state, refusal_reason, revision
FROM {SCHEMA}.declarations WHERE license_no = $1 ORDER BY declared_at, declaration_no
"""

APPLICATION_OF_LICENSE = f"""
SELECT application_id, enterprise_code FROM {SCHEMA}.licenses
WHERE license_no = $1 AND enterprise_code = ANY($2::text[])
UNION ALL SELECT application_id, enterprise_code FROM {SCHEMA}.applications
WHERE license_no = $1 AND enterprise_code = ANY($2::text[]) LIMIT 1
"""

# The ledger's entries (clearance_*) in the order the ledger recorded them, not by occurred_at:
# an amended declaration's new use happened "at" the original declaration's time but was recorded
# after its reversal, and the running balances in the summaries are in recording order (issue 13
# item 17). Everything else in the order it happened: MOFCOM's first and second review may reach
# this service the other way round (its callbacks out of order, a redelivery), and the history
# shows the first review first. Entries from before recorded_at existed (NULL) fall back to
# occurred_at; id breaks ties (the order of one transaction).
HISTORY = f"""
SELECT occurred_at, recorded_at, kind, summary, license_no, data FROM {SCHEMA}.history
WHERE application_id = $1 AND ($2::timestamptz IS NULL OR occurred_at >= $2)
  AND ($3::timestamptz IS NULL OR occurred_at < $3)
ORDER BY CASE WHEN kind LIKE 'clearance\\_%' THEN COALESCE(recorded_at, occurred_at) ELSE occurred_at END, id
"""


@dataclass(frozen=True)
class StatusQuery:
    enterprise_codes: tuple[str, ...]
    year: int | None = None
    serial_no: str | None = None
    license_no: str | None = None
    applied_from: date | None = None  # China dates
    applied_to: date | None = None
    page: int = 1
    page_size: int = 10


async def customs_status_page(pool: asyncpg.Pool, query: StatusQuery) -> tuple[int, list[dict[str, Any]]]:
    args = (
        list(query.enterprise_codes),
        query.year,
        query.serial_no,
        query.license_no,
        query.applied_from,
        query.applied_to,
        CHINA.key,
    )
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        total = await conn.fetchval(f"SELECT count(*) {STATUS_FILTER}", *args)
        rows = await conn.fetch(STATUS_PAGE, *args, query.page_size, (query.page - 1) * query.page_size)
    return int(total), [dict(r) for r in rows]


async def license_of_tenant(pool: asyncpg.Pool, license_no: str, enterprise_codes: Sequence[str]) -> License:
    async with pool.acquire() as conn:
        return await LicenseRepository(conn).of_tenant(
            license_no=license_no, enterprise_codes=enterprise_codes
        )


# The availability check's read, beside the caller's API key in one statement (issue 16): the
# license by number only; the tenant is checked on what comes back.
LICENSE_ITEM = f"SELECT * FROM {SCHEMA}.licenses WHERE license_no = $2"


async def license_for_caller(caller: Caller, license_no: str) -> tuple[Tenant, License]:
    """The caller's tenant and the license, in one round trip (``Caller.tenant_and``); NotFound
    (404) for a license that does not exist or belongs to another tenant, the same answer."""
    tenant, row = await caller.tenant_and(LICENSE_ITEM, license_no)
    if row is None or not tenant.owns(row["enterprise_code"]):
        raise NotFound(f"license {license_no} not found")
    return tenant, license_from(row)


@dataclass(frozen=True)
class LicenseStateView:
    """A license's state after issue (``ail_shared.licenses``), for readers that only need that
    (the public license check, the license PDF): ``license_state(pool, license_no)``."""

    license_no: str
    enterprise_code: str
    state: str
    reason: str
    detail: str
    changed_at: datetime | None
    replaces_license_no: str | None
    replaced_by: str | None
    valid_until: date
    unused_quantity: Any


async def license_state(
    pool: asyncpg.Pool, license_no: str, enterprise_codes: Sequence[str] | None = None
) -> LicenseStateView:
    """The state of ``license_no`` (scoped to ``enterprise_codes`` when given; NotFound else)."""
    async with pool.acquire() as conn:
        lic = (
            await LicenseRepository(conn).get(license_no=license_no)
            if enterprise_codes is None
            else await LicenseRepository(conn).of_tenant(
                license_no=license_no, enterprise_codes=enterprise_codes
            )
        )
    if lic is None:
        raise NotFound(f"license {license_no} not found")
    return LicenseStateView(
        license_no=lic.license_no,
        enterprise_code=lic.enterprise_code,
        state=str(lic.state),
        reason=lic.state_reason,
        detail=lic.state_detail,
        changed_at=lic.state_changed_at,
        replaces_license_no=lic.replaces_license_no,
        replaced_by=lic.replaced_by,
        valid_until=lic.valid_until,
        unused_quantity=lic.unused_quantity,
    )


async def license_with_entries(
    pool: asyncpg.Pool, license_no: str, enterprise_codes: Sequence[str]
) -> tuple[License, list[dict[str, Any]]]:
    """The license and every ledger entry, from one snapshot (balances and entries agree)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        lic = await LicenseRepository(conn).of_tenant(
            license_no=license_no, enterprise_codes=enterprise_codes
        )
        rows = await conn.fetch(ENTRIES, license_no)
    return lic, [dict(r) for r in rows]


async def license_with_declarations(
    pool: asyncpg.Pool, license_no: str, enterprise_codes: Sequence[str]
) -> tuple[License, list[dict[str, Any]]]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        lic = await LicenseRepository(conn).of_tenant(
            license_no=license_no, enterprise_codes=enterprise_codes
        )
        rows = await conn.fetch(DECLARATIONS, license_no)
    return lic, [dict(r) for r in rows]


async def history_of_license(
    pool: asyncpg.Pool,
    license_no: str,
    enterprise_codes: Sequence[str],
    since: datetime | None,
    until: datetime | None,
) -> tuple[str, list[dict[str, Any]]]:
    """(application id, its history in the order it was recorded) of the license's application."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(APPLICATION_OF_LICENSE, license_no, list(enterprise_codes))
        if row is None:
            raise NotFound(f"license {license_no} not found")
        rows = await conn.fetch(HISTORY, row["application_id"], since, until)
    return row["application_id"], [dict(r) for r in rows]


# What operations see of a delivery (GET /api/v1/ops/customs-deliveries): queued (not sent yet,
# or in its first round), retrying (a round failed, an automatic re-send is scheduled or under
# way), parked (failed, the automatic rounds spent), closed (operations gave up on it).
OPS_DELIVERIES = f"""
SELECT * FROM (
    SELECT l.license_no, l.application_id, l.enterprise_code, l.form_no, l.commodity_code,
           l.commodity_name, l.unit, l.quantity, l.valid_until, l.customs_status, l.delivery_rounds,
           l.failed_rounds, l.next_delivery_at, l.last_delivery_detail, l.updated_at,
           CASE WHEN l.customs_status IN ('send_failed', 'store_failed') AND l.next_delivery_at IS NULL
                THEN CASE WHEN last.action = 'close' THEN 'closed' ELSE 'parked' END
                WHEN l.failed_rounds > 0 THEN 'retrying'
                ELSE 'queued' END AS ops_state,
           COALESCE((SELECT jsonb_agg(jsonb_build_object('action', o.action, 'reason', o.reason,
                     'actor', o.actor, 'at', o.acted_at) ORDER BY o.id)
                     FROM {SCHEMA}.ops_actions o WHERE o.license_no = l.license_no), '[]'::jsonb) AS actions
    FROM {SCHEMA}.licenses l
    LEFT JOIN LATERAL (SELECT o.action FROM {SCHEMA}.ops_actions o WHERE o.license_no = l.license_no
                       ORDER BY o.id DESC LIMIT 1) last ON true
    WHERE l.customs_status IS DISTINCT FROM 'stored') t
WHERE ($1::text IS NULL OR t.ops_state = $1) AND ($2::text IS NULL OR t.license_no = $2)
"""


async def ops_deliveries(
    pool: asyncpg.Pool, *, state: str | None, limit: int, offset: int = 0, license_no: str | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """Deliveries to Customs not stored yet (every tenant's: operations only), newest first,
    each with what operations did with it (oldest first); and how many match in all."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"{OPS_DELIVERIES} ORDER BY t.updated_at DESC LIMIT $3 OFFSET $4",
            state,
            license_no,
            limit,
            offset,
        )
        total = await conn.fetchval(f"SELECT count(*) FROM ({OPS_DELIVERIES}) c", state, license_no)
    return int(total), [dict(r) for r in rows]
