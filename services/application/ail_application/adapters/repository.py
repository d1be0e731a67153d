"""asyncpg repositories of the application service: applications, attachments, e-key bindings and
key-agri filings. They take the unit of work's connection, have keyword-only methods and return
domain objects (never rows); a missing object is ``NotFound``. Every read on behalf of a client is
scoped to the tenant's enterprises; ``find`` (for events, which name their application) is not.

Read-side queries (pages, exports, views) are ``adapters/queries.py``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from ail_application.domain.key_agri import KeyAgriFiling
from ail_application.domain.model import Application, Attachment, EkeyBinding
from ail_shared.errors import NotFound
from ail_shared.lifecycle import ApplicationStatus

SCHEMA = "application"

COLUMNS = (
    "id, serial_no, enterprise_code, status, year, form, form_no, license_no, applied_at,"
    " status_reason, submission_id, version, importer_name, one_batch_one_license, issuing_agency,"
    " electronic_license, computed, contract, iron_ore_contract, copied_from, trade_mode,"
    " import_user_code, import_user_name, commodity_code, commodity_name, unit, total_quantity,"
    " total_value_usd, created_at, updated_at, replaces, license_state, raw_inputs"
)
INSERT = f"""
INSERT INTO {SCHEMA}.applications (id, serial_no, enterprise_code, status, year, form, importer_name,
    one_batch_one_license, issuing_agency, electronic_license, computed, contract, iron_ore_contract,
    copied_from, trade_mode, import_user_code, import_user_name, commodity_code, commodity_name, unit,
    total_quantity, total_value_usd, replaces, raw_inputs)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
    $23, $24)
ON CONFLICT (id) DO NOTHING
RETURNING created_at, updated_at
"""
GET = f"SELECT {COLUMNS} FROM {SCHEMA}.applications WHERE id = $1 AND enterprise_code = ANY($2::text[])"
GET_FOR_UPDATE = GET + " FOR UPDATE"
FIND_FOR_UPDATE = f"SELECT {COLUMNS} FROM {SCHEMA}.applications WHERE id = $1 FOR UPDATE"
GET_MANY = (
    f"SELECT {COLUMNS} FROM {SCHEMA}.applications WHERE id = ANY($1::uuid[])"
    " AND enterprise_code = ANY($2::text[])"
)
UPDATE = f"""
UPDATE {SCHEMA}.applications
SET status = $2, status_reason = $3, form = $4, form_no = $5, license_no = $6, applied_at = $7,
    submission_id = $8, computed = $9, contract = $10, iron_ore_contract = $11, trade_mode = $12,
    import_user_code = $13, import_user_name = $14, commodity_code = $15, commodity_name = $16,
    unit = $17, total_quantity = $18, total_value_usd = $19, issuing_agency = $20,
    license_state = $21, raw_inputs = $22, version = version + 1, updated_at = now()
WHERE id = $1
RETURNING version, updated_at
"""
DELETE = f"DELETE FROM {SCHEMA}.applications WHERE id = $1"
LAST_PROFILE = f"SELECT applicant FROM {SCHEMA}.enterprise_profiles WHERE enterprise_code = $1"
SAVE_PROFILE = f"""
INSERT INTO {SCHEMA}.enterprise_profiles (enterprise_code, applicant) VALUES ($1, $2)
ON CONFLICT (enterprise_code) DO UPDATE SET applicant = EXCLUDED.applicant, updated_at = now()
"""
ENTERPRISE_NAME = "SELECT name FROM iam.enterprises WHERE code = $1"


def application_from(row: asyncpg.Record) -> Application:
    return Application(
        id=row["id"],
        serial_no=row["serial_no"],
        enterprise_code=row["enterprise_code"],
        year=row["year"],
        importer_name=row["importer_name"],
        status=ApplicationStatus(row["status"]),
        one_batch_one_license=row["one_batch_one_license"],
        issuing_agency=row["issuing_agency"],
        electronic_license=row["electronic_license"],
        form=row["form"],
        computed=row["computed"],
        contract=row["contract"],
        iron_ore_contract=row["iron_ore_contract"],
        raw_inputs=row["raw_inputs"] or {},
        form_no=row["form_no"],
        license_no=row["license_no"],
        applied_at=row["applied_at"],
        status_reason=row["status_reason"],
        submission_id=row["submission_id"],
        copied_from=row["copied_from"],
        replaces=row["replaces"],
        license_state=row["license_state"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _num(v: Any) -> Decimal | None:
    return Decimal(str(v)) if v is not None else None


def _query_columns(app: Application) -> tuple[Any, ...]:
    f, c = app.form, app.computed
    return (
        f.get("trade_mode"),
        f.get("import_user_code"),
        f.get("import_user_name"),
        f.get("commodity_code"),
        c.get("commodity_name"),
        c.get("unit"),
        _num(c.get("total_quantity")),
        _num(c.get("total_value_usd")),
    )


class ApplicationRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def next_serial(self) -> int:
        value: int = await self.conn.fetchval(f"SELECT nextval('{SCHEMA}.serial_no_seq')")
        return value

    async def enterprise_name(self, *, enterprise_code: str) -> str:
        return await self.conn.fetchval(ENTERPRISE_NAME, enterprise_code) or ""

    async def add(self, *, application: Application) -> None:
        app = application
        row = await self.conn.fetchrow(
            INSERT,
            app.id,
            app.serial_no,
            app.enterprise_code,
            app.status.value,
            app.year,
            app.form,
            app.importer_name,
            app.one_batch_one_license,
            app.issuing_agency,
            app.electronic_license,
            app.computed,
            app.contract,
            app.iron_ore_contract,
            app.copied_from,
            *_query_columns(app),
            app.replaces,
            app.raw_inputs,
        )
        if row is None:
            # Only a draft made with a given id (a reissue, from its event) can meet its own id:
            # the event was applied already. The stored one stands.
            return
        app.created_at, app.updated_at = row["created_at"], row["updated_at"]

    async def get(
        self, *, application_id: UUID, enterprise_codes: Sequence[str], for_update: bool = False
    ) -> Application:
        row = await self.conn.fetchrow(
            GET_FOR_UPDATE if for_update else GET, application_id, list(enterprise_codes)
        )
        if row is None:
            raise NotFound(f"application {application_id} not found")
        return application_from(row)

    async def find(self, *, application_id: UUID) -> Application | None:
        """The application an event names, locked; None when it was deleted."""
        row = await self.conn.fetchrow(FIND_FOR_UPDATE, application_id)
        return application_from(row) if row is not None else None

    async def save(self, *, application: Application) -> None:
        app = application
        row = await self.conn.fetchrow(
            UPDATE,
            app.id,
            app.status.value,
            app.status_reason,
            app.form,
            app.form_no,
            app.license_no,
            app.applied_at,
            app.submission_id,
            app.computed,
            app.contract,
            app.iron_ore_contract,
            *_query_columns(app),
            app.issuing_agency,
            app.license_state,
            app.raw_inputs,
        )
        app.version, app.updated_at = row["version"], row["updated_at"]

    async def delete(self, *, application: Application) -> None:
        await self.conn.execute(DELETE, application.id)

    async def last_applicant(self, *, enterprise_code: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = await self.conn.fetchval(LAST_PROFILE, enterprise_code)
        return value

    async def save_applicant(self, *, enterprise_code: str, applicant: dict[str, Any]) -> None:
        await self.conn.execute(SAVE_PROFILE, enterprise_code, applicant)


# -- attachments ---------------------------------------------------------------------------------
ATTACHMENT_META = "id, application_id, enterprise_code, filename, content_type, size, sha256, created_at"
ATTACHMENT_INSERT = f"""
INSERT INTO {SCHEMA}.attachments (id, application_id, enterprise_code, filename, content_type, size,
    sha256, content)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING created_at
"""
ATTACHMENT_COUNT = f"SELECT count(*) FROM {SCHEMA}.attachments WHERE application_id = $1"
ATTACHMENT_DIGESTS = (
    f"SELECT id, filename, content_type, size, sha256 FROM {SCHEMA}.attachments WHERE application_id = $1"
    " ORDER BY created_at, id"
)
ATTACHMENT_DELETE = (
    f"DELETE FROM {SCHEMA}.attachments WHERE id = $1 AND application_id = $2"
    " AND enterprise_code = ANY($3::text[]) RETURNING 1"
)


class AttachmentRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def count(self, *, application_id: UUID) -> int:
        n: int = await self.conn.fetchval(ATTACHMENT_COUNT, application_id)
        return n

    async def digests(self, *, application_id: UUID) -> list[dict[str, Any]]:
        """What the signed snapshot holds of each attachment (never the bytes), in upload order."""
        rows = await self.conn.fetch(ATTACHMENT_DIGESTS, application_id)
        return [
            {
                "id": str(r["id"]),
                "filename": r["filename"],
                "content_type": r["content_type"],
                "size": r["size"],
                "sha256": r["sha256"],
            }
            for r in rows
        ]

    async def add(self, *, attachment: Attachment) -> None:
        a = attachment
        a.created_at = await self.conn.fetchval(
            ATTACHMENT_INSERT,
            a.id,
            a.application_id,
            a.enterprise_code,
            a.filename,
            a.content_type,
            a.size,
            a.sha256,
            a.content,
        )

    async def delete(
        self, *, attachment_id: UUID, application_id: UUID, enterprise_codes: Sequence[str]
    ) -> None:
        done = await self.conn.fetchval(
            ATTACHMENT_DELETE, attachment_id, application_id, list(enterprise_codes)
        )
        if done is None:
            raise NotFound(f"attachment {attachment_id} not found")


# -- e-key bindings ------------------------------------------------------------------------------
BINDING_GET = (
    f"SELECT enterprise_code, ekey_serial, subject, certificate_pem, bound_at FROM {SCHEMA}.ekey_bindings"
    " WHERE enterprise_code = $1"
)
# The WHERE repeats the domain's "a later binding replaces an earlier one" for two first bindings
# of one enterprise applied concurrently (neither saw the other's row).
BINDING_SAVE = f"""
INSERT INTO {SCHEMA}.ekey_bindings (enterprise_code, ekey_serial, subject, certificate_pem, bound_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (enterprise_code) DO UPDATE SET ekey_serial = EXCLUDED.ekey_serial,
    subject = EXCLUDED.subject, certificate_pem = EXCLUDED.certificate_pem, bound_at = EXCLUDED.bound_at
WHERE {SCHEMA}.ekey_bindings.bound_at <= EXCLUDED.bound_at
"""
BINDING_DELETE = f"DELETE FROM {SCHEMA}.ekey_bindings WHERE enterprise_code = $1"


class EkeyBindingRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get(self, *, enterprise_code: str, for_update: bool = False) -> EkeyBinding | None:
        row = await self.conn.fetchrow(BINDING_GET + (" FOR UPDATE" if for_update else ""), enterprise_code)
        if row is None:
            return None
        return EkeyBinding(
            enterprise_code=row["enterprise_code"],
            ekey_serial=row["ekey_serial"],
            subject=row["subject"],
            certificate_pem=row["certificate_pem"],
            bound_at=row["bound_at"],
        )

    async def save(self, *, binding: EkeyBinding) -> None:
        b = binding
        await self.conn.execute(
            BINDING_SAVE, b.enterprise_code, b.ekey_serial, b.subject, b.certificate_pem, b.bound_at
        )

    async def delete(self, *, enterprise_code: str) -> None:
        await self.conn.execute(BINDING_DELETE, enterprise_code)


# -- key-agri filings ----------------------------------------------------------------------------
FILING_COLUMNS = (
    "id, enterprise_code, body, status, created_at, receipt_no, reported_at, report_attempts, last_error"
)
FILING_INSERT = (
    f"INSERT INTO {SCHEMA}.key_agri_filings (id, enterprise_code, body, status) VALUES ($1, $2, $3, $4)"
    " RETURNING created_at"
)
FILING_GET = (
    f"SELECT {FILING_COLUMNS} FROM {SCHEMA}.key_agri_filings"
    " WHERE id = $1 AND enterprise_code = ANY($2::text[])"
)
# Due filings, locked: replicas skip what another one is reporting (the row stays locked during
# the call to MOFCOM, so no replica sends it too).
FILING_CLAIM = f"""
SELECT {FILING_COLUMNS} FROM {SCHEMA}.key_agri_filings
WHERE status IN ('saved', 'report_failed') AND next_attempt_at <= now()
  AND report_attempts < $1
ORDER BY next_attempt_at LIMIT $2
FOR UPDATE SKIP LOCKED
"""
FILING_SAVE = f"""
UPDATE {SCHEMA}.key_agri_filings
SET status = $2, receipt_no = $3, reported_at = $4, report_attempts = $5, last_error = $6,
    next_attempt_at = CASE WHEN $7 THEN 'infinity'::timestamptz
                           ELSE now() + make_interval(secs => $8) END
WHERE id = $1
"""


def filing_from(row: asyncpg.Record) -> KeyAgriFiling:
    return KeyAgriFiling(
        id=row["id"],
        enterprise_code=row["enterprise_code"],
        body=row["body"],
        status=row["status"],
        created_at=row["created_at"],
        receipt_no=row["receipt_no"],
        reported_at=row["reported_at"],
        report_attempts=row["report_attempts"],
        last_error=row["last_error"],
    )


class KeyAgriFilingRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, *, filing: KeyAgriFiling) -> None:
        f = filing
        f.created_at = await self.conn.fetchval(FILING_INSERT, f.id, f.enterprise_code, f.body, f.status)

    async def get(
        self, *, filing_id: UUID, enterprise_codes: Sequence[str], for_update: bool = False
    ) -> KeyAgriFiling:
        row = await self.conn.fetchrow(
            FILING_GET + (" FOR UPDATE" if for_update else ""), filing_id, list(enterprise_codes)
        )
        if row is None:
            raise NotFound(f"key-agri filing {filing_id} not found")
        return filing_from(row)

    async def claim_due(self, *, max_attempts: int, limit: int) -> list[KeyAgriFiling]:
        return [filing_from(r) for r in await self.conn.fetch(FILING_CLAIM, max_attempts, limit)]

    async def save(self, *, filing: KeyAgriFiling) -> None:
        f = filing
        retry_in = (f.retry_in or timedelta(0)).total_seconds()
        await self.conn.execute(
            FILING_SAVE,
            f.id,
            f.status,
            f.receipt_no,
            f.reported_at,
            f.report_attempts,
            f.last_error,
            f.given_up,
            retry_in,
        )
