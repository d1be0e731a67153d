"""asyncpg repository of the submission service (schema ``submission``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from ail_shared.events import HeldKey
from ail_submission.domain.ekeys import Sighting
from ail_submission.domain.model import enterprise_codes_of, subject_of

SCHEMA = "submission"

FRESH = "absent_at IS NULL AND last_seen + make_interval(secs => ttl_seconds) > now()"


class Repository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # ------------------------------------------------------------ e-key presence and bindings

    async def record_heartbeat(
        self, *, host_id: str, keys: list[HeldKey], sent_at: datetime, ttl: float
    ) -> None:
        # A key this host held and no longer lists: the host says it is absent (kept, not
        # deleted, so a submission can tell "removed" from "not heard of lately").
        await self.conn.execute(
            f"UPDATE {SCHEMA}.ekey_presence SET absent_at = $3 WHERE host_id = $1"
            " AND NOT (serial = ANY($2::text[])) AND last_seen <= $3 AND absent_at IS NULL",
            host_id,
            [k.serial for k in keys],
            sent_at,
        )
        if not keys:
            return
        await self.conn.executemany(
            f"""INSERT INTO {SCHEMA}.ekey_presence
                (host_id, serial, label, subject, certificate_pem, algorithm, enterprise_codes,
                 last_seen, ttl_seconds)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (host_id, serial) DO UPDATE SET label = EXCLUDED.label,
                subject = EXCLUDED.subject, certificate_pem = EXCLUDED.certificate_pem,
                algorithm = EXCLUDED.algorithm, enterprise_codes = EXCLUDED.enterprise_codes,
                last_seen = GREATEST({SCHEMA}.ekey_presence.last_seen, EXCLUDED.last_seen),
                ttl_seconds = EXCLUDED.ttl_seconds,
                absent_at = CASE WHEN {SCHEMA}.ekey_presence.absent_at > EXCLUDED.last_seen
                    THEN {SCHEMA}.ekey_presence.absent_at END""",
            [
                (
                    host_id,
                    k.serial,
                    k.label,
                    subject_of(k.certificate_pem, k.subject),
                    k.certificate_pem,
                    k.algorithm,
                    enterprise_codes_of(k.certificate_pem, k.subject),
                    sent_at,
                    ttl,
                )
                for k in keys
            ],
        )

    async def present_keys(self, *, enterprise_codes: tuple[str, ...]) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"""SELECT DISTINCT ON (serial) * FROM {SCHEMA}.ekey_presence
            WHERE enterprise_codes && $1::text[] AND {FRESH}
            ORDER BY serial, last_seen DESC""",
            list(enterprise_codes),
        )
        return rows

    async def serials_of_host(self, *, host_id: str) -> set[str]:
        rows = await self.conn.fetch(
            f"SELECT serial FROM {SCHEMA}.ekey_presence WHERE host_id = $1 AND absent_at IS NULL", host_id
        )
        return {r["serial"] for r in rows}

    async def sightings(self, *, serial: str) -> list[Sighting]:
        """What every signer host last said about one e-key."""
        rows = await self.conn.fetch(
            f"SELECT host_id, last_seen, ttl_seconds, absent_at FROM {SCHEMA}.ekey_presence"
            " WHERE serial = $1",
            serial,
        )
        return [
            Sighting(
                host_id=r["host_id"],
                last_seen=r["last_seen"],
                ttl_seconds=r["ttl_seconds"],
                absent_at=r["absent_at"],
            )
            for r in rows
        ]

    async def waiting_submissions(
        self, *, serials: list[str] | None = None, limit: int = 500
    ) -> list[asyncpg.Record]:
        """Submissions waiting for their e-key (all, or those of ``serials``), locked."""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"""SELECT * FROM {SCHEMA}.submissions
            WHERE state = 'waiting_ekey' AND ($1::text[] IS NULL OR ekey_serial = ANY($1::text[]))
            ORDER BY waiting_since LIMIT $2 FOR UPDATE SKIP LOCKED""",
            serials,
            limit,
        )
        return rows

    async def stranded_requests(self, *, older_than_seconds: float, limit: int = 500) -> list[asyncpg.Record]:
        """Signature requests sent to a host that no longer announces the key (it may be gone for
        good, or the key moved to another host): candidates to be sent again, locked."""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"""SELECT s.* FROM {SCHEMA}.submissions s
            WHERE s.state = 'signing' AND s.ekey_serial IS NOT NULL
              AND s.updated_at < now() - make_interval(secs => $1)
              AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.ekey_presence p WHERE p.serial = s.ekey_serial
                              AND p.host_id = s.signer_host AND p.{FRESH})
            ORDER BY s.updated_at LIMIT $2 FOR UPDATE OF s SKIP LOCKED""",
            older_than_seconds,
            limit,
        )
        return rows

    async def binding(self, *, enterprise_code: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.ekey_bindings WHERE enterprise_code = $1", enterprise_code
        )
        return row

    async def bindings(self, *, enterprise_codes: tuple[str, ...]) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"SELECT * FROM {SCHEMA}.ekey_bindings WHERE enterprise_code = ANY($1::text[])"
            " ORDER BY enterprise_code",
            list(enterprise_codes),
        )
        return rows

    async def bind(
        self, *, enterprise_code: str, serial: str, subject: str, certificate_pem: str, bound_by: str
    ) -> asyncpg.Record:
        row: asyncpg.Record = await self.conn.fetchrow(
            f"""INSERT INTO {SCHEMA}.ekey_bindings
                (enterprise_code, ekey_serial, subject, certificate_pem, bound_by)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (enterprise_code) DO UPDATE SET ekey_serial = EXCLUDED.ekey_serial,
                subject = EXCLUDED.subject, certificate_pem = EXCLUDED.certificate_pem,
                bound_by = EXCLUDED.bound_by, bound_at = now()
            RETURNING *""",
            enterprise_code,
            serial,
            subject,
            certificate_pem,
            bound_by,
        )
        return row

    # ------------------------------------------------------------ submissions

    async def add_submission(
        self,
        *,
        submission_id: UUID,
        application_id: UUID,
        enterprise_code: str,
        serial_no: str,
        snapshot: dict[str, Any],
        state: str,
    ) -> bool:
        inserted = await self.conn.fetchval(
            f"""INSERT INTO {SCHEMA}.submissions
                (submission_id, application_id, enterprise_code, serial_no, snapshot, state)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (submission_id) DO NOTHING RETURNING 1""",
            submission_id,
            application_id,
            enterprise_code,
            serial_no,
            snapshot,
            state,
        )
        return inserted is not None

    async def submission(self, *, submission_id: UUID, for_update: bool = False) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.submissions WHERE submission_id = $1"
            + (" FOR UPDATE" if for_update else ""),
            submission_id,
        )
        return row

    async def submission_by_form(self, *, form_no: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.submissions WHERE form_no = $1", form_no
        )
        return row

    async def update_submission(self, submission_id: UUID, **fields: Any) -> None:
        names = list(fields)
        sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
        await self.conn.execute(
            f"UPDATE {SCHEMA}.submissions SET {sets}, updated_at = now() WHERE submission_id = $1",
            submission_id,
            *[fields[n] for n in names],
        )

    async def claim_due(self, *, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"""UPDATE {SCHEMA}.submissions SET lease_until = now() + make_interval(secs => $2),
                attempts = attempts + 1, updated_at = now()
            WHERE submission_id IN (
                SELECT submission_id FROM {SCHEMA}.submissions
                WHERE state = 'signed' AND next_attempt_at <= now()
                  AND (lease_until IS NULL OR lease_until < now())
                ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING *""",
            limit,
            lease_seconds,
        )
        return rows

    # ------------------------------------------------------------ the application view

    async def application(
        self,
        *,
        application_id: UUID,
        enterprise_codes: tuple[str, ...] | None = None,
        for_update: bool = False,
    ) -> asyncpg.Record | None:
        sql = f"SELECT * FROM {SCHEMA}.applications WHERE application_id = $1"
        args: list[Any] = [application_id]
        if enterprise_codes is not None:
            sql += " AND enterprise_code = ANY($2::text[])"
            args.append(list(enterprise_codes))
        if for_update:
            sql += " FOR UPDATE"
        row: asyncpg.Record | None = await self.conn.fetchrow(sql, *args)
        return row

    async def upsert_application(
        self, *, application_id: UUID, enterprise_code: str, submission_id: UUID, status: str
    ) -> None:
        await self.conn.execute(
            f"""INSERT INTO {SCHEMA}.applications (application_id, enterprise_code, submission_id, status)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (application_id) DO UPDATE SET submission_id = EXCLUDED.submission_id,
                status = EXCLUDED.status, status_reason = NULL, updated_at = now()""",
            application_id,
            enterprise_code,
            submission_id,
            status,
        )

    async def update_application(self, application_id: UUID, **fields: Any) -> None:
        names = list(fields)
        sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
        await self.conn.execute(
            f"UPDATE {SCHEMA}.applications SET {sets}, updated_at = now() WHERE application_id = $1",
            application_id,
            *[fields[n] for n in names],
        )

    async def review_results(self, *, form_no: str) -> dict[str, tuple[str, str | None]]:
        """The results recorded for a form no.: stage -> (result, license no.)."""
        rows = await self.conn.fetch(
            f"SELECT stage, result, license_no FROM {SCHEMA}.review_results WHERE form_no = $1", form_no
        )
        return {r["stage"]: (r["result"], r["license_no"]) for r in rows}

    async def add_review_result(
        self,
        *,
        form_no: str,
        stage: str,
        result: str,
        opinion: str,
        license_no: str | None,
        reviewed_at: datetime,
    ) -> bool:
        inserted = await self.conn.fetchval(
            f"""INSERT INTO {SCHEMA}.review_results (form_no, stage, result, opinion, license_no, reviewed_at)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1""",
            form_no,
            stage,
            result,
            opinion,
            license_no,
            reviewed_at,
        )
        return inserted is not None
