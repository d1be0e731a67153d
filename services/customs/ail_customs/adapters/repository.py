"""SQL of the customs service (schema ``customs``). Repositories take a connection and run inside
the caller's transaction; tenant-scoped reads filter on ``enterprise_code = ANY($n)``."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from ail_customs.domain.ledger import Ledger, LedgerEntry
from ail_shared.errors import NotFound

SCHEMA = "customs"
CHINA = ZoneInfo("Asia/Shanghai")  # a license's and a declaration's dates are dates in China

# submitted < approved < license_issued: a late or repeated event never moves an application back.
APP_RANK = {"submitted": 0, "approved": 1, "license_issued": 2}

UPSERT_APPLICATION = f"""
INSERT INTO {SCHEMA}.applications AS a (application_id, enterprise_code, serial_no, year, form_no,
    license_no, commodity_code, commodity_name, application_status, applied_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())
ON CONFLICT (application_id) DO UPDATE SET
    serial_no = COALESCE(EXCLUDED.serial_no, a.serial_no),
    year = COALESCE(EXCLUDED.year, a.year),
    form_no = COALESCE(EXCLUDED.form_no, a.form_no),
    license_no = COALESCE(EXCLUDED.license_no, a.license_no),
    commodity_code = COALESCE(EXCLUDED.commodity_code, a.commodity_code),
    commodity_name = COALESCE(NULLIF(EXCLUDED.commodity_name, ''), a.commodity_name),
    application_status = CASE WHEN $11::int > (CASE a.application_status WHEN 'submitted' THEN 0
        WHEN 'approved' THEN 1 ELSE 2 END) THEN EXCLUDED.application_status ELSE a.application_status END,
    applied_at = COALESCE(a.applied_at, EXCLUDED.applied_at),
    updated_at = now()
"""

INSERT_LICENSE = f"""
INSERT INTO {SCHEMA}.licenses (license_no, application_id, enterprise_code, form_no, commodity_code,
    commodity_name, unit, quantity, one_batch_one_license, issued_at, valid_until, tolerance_pct,
    tolerance_source, next_delivery_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now())
ON CONFLICT (license_no) DO NOTHING
RETURNING license_no
"""


def ledger_from(row: asyncpg.Record | dict[str, Any]) -> Ledger:
    return Ledger(
        license_no=row["license_no"],
        licensed_quantity=row["quantity"],
        one_batch_one_license=row["one_batch_one_license"],
        valid_until=row["valid_until"],
        tolerance_pct=row["tolerance_pct"],
        issued_on=row["issued_at"].astimezone(CHINA).date(),
        used_quantity=row["used_quantity"],
        uses=row["uses"],
    )


class CustomsRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # ------------------------------------------------------------------ applications, licenses

    async def upsert_application(self, *, status: str, **f: Any) -> None:
        await self.conn.execute(
            UPSERT_APPLICATION,
            f["application_id"],
            f["enterprise_code"],
            f.get("serial_no"),
            f.get("year"),
            f.get("form_no"),
            f.get("license_no"),
            f.get("commodity_code"),
            f.get("commodity_name") or "",
            status,
            f.get("applied_at"),
            APP_RANK[status],
        )

    async def application(self, application_id: str) -> asyncpg.Record | None:
        return await self.conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.applications WHERE application_id = $1", application_id
        )

    async def insert_license(self, **f: Any) -> bool:
        got = await self.conn.fetchval(
            INSERT_LICENSE,
            f["license_no"],
            f["application_id"],
            f["enterprise_code"],
            f["form_no"],
            f["commodity_code"],
            f["commodity_name"],
            f["unit"],
            f["quantity"],
            f["one_batch_one_license"],
            f["issued_at"],
            f["valid_until"],
            f["tolerance_pct"],
            f["tolerance_source"],
        )
        return got is not None

    async def license_of_tenant(
        self, license_no: str, enterprise_codes: tuple[str, ...], *, for_update: bool = False
    ) -> asyncpg.Record:
        row = await self.conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.licenses WHERE license_no = $1 AND enterprise_code = ANY($2::text[])"
            + (" FOR UPDATE" if for_update else ""),
            license_no,
            list(enterprise_codes),
        )
        if row is None:
            raise NotFound(f"license {license_no} not found")
        return row

    # ------------------------------------------------------------------ ledger

    async def append_entry(
        self, lic: asyncpg.Record, ledger: Ledger, entry: LedgerEntry, message_id: str
    ) -> int:
        """Append ``entry`` after the license's last entry and store the new balances, in one
        statement. Returns the entry number."""
        entry_no: int = lic["ledger_entries"] + 1
        await self.conn.execute(
            f"WITH e AS (INSERT INTO {SCHEMA}.ledger_entries (license_no, entry_no, kind, declaration_no,"
            " quantity, occurred_at, reason, detail, used_after, uses_after, message_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11))"
            f" UPDATE {SCHEMA}.licenses SET used_quantity = $9, uses = $10, ledger_entries = $2,"
            " updated_at = now() WHERE license_no = $1",
            ledger.license_no,
            entry_no,
            entry.kind.value,
            entry.declaration_no,
            entry.quantity,
            entry.occurred_at,
            entry.reason,
            entry.detail,
            ledger.used_quantity,
            ledger.uses,
            message_id,
        )
        return entry_no

    async def licenses_for_update(self, license_nos: list[str]) -> dict[str, dict[str, Any]]:
        """Lock the licenses of a page at once (in key order, so two writers cannot deadlock)."""
        rows = await self.conn.fetch(
            f"SELECT * FROM {SCHEMA}.licenses WHERE license_no = ANY($1::text[])"
            " ORDER BY license_no FOR UPDATE",
            license_nos,
        )
        return {r["license_no"]: dict(r) for r in rows}

    async def record_new_declaration(
        self,
        lic: dict[str, Any],
        ledger: Ledger,
        entry: LedgerEntry,
        *,
        message_id: str,
        port: str,
        lines: list[dict[str, Any]],
        state: str,
    ) -> bool:
        """The declaration (if its number is new), its ledger entry and the license's balances, in
        one statement. False when the declaration number was already reported (nothing written)."""
        got = await self.conn.fetchval(
            f"""
            WITH d AS (
                INSERT INTO {SCHEMA}.declarations (declaration_no, license_no, enterprise_code,
                    declared_at, port, quantity, lines, state, refusal_reason)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (declaration_no) DO NOTHING RETURNING declaration_no),
            e AS (
                INSERT INTO {SCHEMA}.ledger_entries (license_no, entry_no, kind, declaration_no, quantity,
                    occurred_at, reason, detail, used_after, uses_after, message_id)
                SELECT $2::text, $10::int, $11::text, $1::text, $6::numeric, $4::timestamptz, $9::text,
                    $12::text, $13::numeric, $14::int, $15::text FROM d),
            u AS (
                UPDATE {SCHEMA}.licenses SET used_quantity = $13, uses = $14, ledger_entries = $10,
                    updated_at = now()
                WHERE license_no = $2 AND EXISTS (SELECT 1 FROM d))
            SELECT count(*) FROM d
            """,
            entry.declaration_no,
            ledger.license_no,
            lic["enterprise_code"],
            entry.occurred_at,
            port,
            entry.quantity,
            lines,
            state,
            entry.reason,
            lic["ledger_entries"] + 1,
            entry.kind.value,
            entry.detail,
            ledger.used_quantity,
            ledger.uses,
            message_id,
        )
        return bool(got)

    async def entries(self, license_no: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            f"SELECT entry_no, kind, declaration_no, quantity, occurred_at, reason, detail, used_after,"
            f" uses_after, recorded_at FROM {SCHEMA}.ledger_entries WHERE license_no = $1 ORDER BY entry_no",
            license_no,
        )
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ declarations, feed

    async def declaration_for_update(self, declaration_no: str) -> asyncpg.Record | None:
        return await self.conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.declarations WHERE declaration_no = $1 FOR UPDATE", declaration_no
        )

    async def save_declaration(
        self,
        *,
        declaration_no: str,
        license_no: str,
        enterprise_code: str,
        declared_at: datetime,
        port: str,
        quantity: Decimal,
        lines: list[dict[str, Any]],
        state: str,
        refusal_reason: str = "",
        new: bool = True,
    ) -> bool:
        """Store a declaration; ``new``: only if its number is new (False when it exists), else
        as the next revision of it (an amendment)."""
        conflict = (
            " ON CONFLICT (declaration_no) DO NOTHING"
            if new
            else " ON CONFLICT (declaration_no) DO UPDATE SET declared_at = EXCLUDED.declared_at,"
            " port = EXCLUDED.port, quantity = EXCLUDED.quantity, lines = EXCLUDED.lines,"
            " state = EXCLUDED.state, refusal_reason = EXCLUDED.refusal_reason,"
            " revision = d.revision + 1, updated_at = now()"
        )
        got = await self.conn.fetchval(
            f"INSERT INTO {SCHEMA}.declarations AS d (declaration_no, license_no, enterprise_code,"
            " declared_at, port, quantity, lines, state, refusal_reason)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)" + conflict + " RETURNING 1",
            declaration_no,
            license_no,
            enterprise_code,
            declared_at,
            port,
            quantity,
            lines,
            state,
            refusal_reason,
        )
        return got is not None

    async def set_declaration_state(self, declaration_no: str, state: str) -> None:
        await self.conn.execute(
            f"UPDATE {SCHEMA}.declarations SET state = $2, updated_at = now() WHERE declaration_no = $1",
            declaration_no,
            state,
        )

    async def declarations(self, license_no: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            f"SELECT declaration_no, declared_at, port, quantity, lines, state, refusal_reason, revision"
            f" FROM {SCHEMA}.declarations WHERE license_no = $1 ORDER BY declared_at, declaration_no",
            license_no,
        )
        return [dict(r) for r in rows]

    async def cursor(self, feed: str) -> asyncpg.Record | None:
        return await self.conn.fetchrow(
            f"SELECT epoch, position FROM {SCHEMA}.feed_cursor WHERE feed = $1 FOR UPDATE", feed
        )

    async def set_cursor(self, feed: str, epoch: str, position: int) -> None:
        await self.conn.execute(
            f"INSERT INTO {SCHEMA}.feed_cursor (feed, epoch, position) VALUES ($1, $2, $3)"
            " ON CONFLICT (feed) DO UPDATE SET epoch = $2, position = $3, updated_at = now()",
            feed,
            epoch,
            position,
        )

    # ------------------------------------------------------------------ history

    async def add_history(
        self,
        *,
        application_id: str,
        enterprise_code: str,
        license_no: str | None,
        occurred_at: datetime,
        kind: str,
        summary: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        await self.conn.execute(
            f"INSERT INTO {SCHEMA}.history (application_id, enterprise_code, license_no, occurred_at,"
            " kind, summary, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            application_id,
            enterprise_code,
            license_no,
            occurred_at,
            kind,
            summary,
            json.loads(json.dumps(data or {}, default=str)),
        )

    async def add_history_many(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows of (application_id, enterprise_code, license_no, occurred_at, kind, summary, data)."""
        if rows:
            await self.conn.executemany(
                f"INSERT INTO {SCHEMA}.history (application_id, enterprise_code, license_no, occurred_at,"
                " kind, summary, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [(*r[:6], json.loads(json.dumps(r[6], default=str))) for r in rows],
            )
