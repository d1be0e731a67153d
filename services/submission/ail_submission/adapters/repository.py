"""asyncpg repositories of the submission service (schema ``submission``): they take a connection,
have keyword-only methods and return domain objects (``domain.model``, ``domain.ekeys``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from ail_shared.events import HeldKey
from ail_shared.telemetry import stored_trace_context
from ail_submission.domain.certificates import enterprise_codes_of, subject_of
from ail_submission.domain.ekeys import Binding, PresentKey, Sighting, Unbinding
from ail_submission.domain.model import SIGNED, SIGNING, WAITING_EKEY, ApplicationView, Submission

SCHEMA = "submission"

FRESH = "absent_at IS NULL AND last_seen + make_interval(secs => ttl_seconds) > now()"

# The columns a Submission is saved with (the rest never change after the insert).
_MUTABLE = (
    "state",
    "ekey_serial",
    "signer_host",
    "signature",
    "algorithm",
    "certificate_pem",
    "last_error",
    "next_attempt_at",
    "lease_until",
    "form_no",
    "applied_at",
    "reason",
    "waiting_since",
)


def _submission(row: asyncpg.Record) -> Submission:
    return Submission(
        submission_id=row["submission_id"],
        application_id=row["application_id"],
        enterprise_code=row["enterprise_code"],
        serial_no=row["serial_no"],
        snapshot=row["snapshot"],
        state=row["state"],
        ekey_serial=row["ekey_serial"],
        signer_host=row["signer_host"],
        signature=row["signature"],
        algorithm=row["algorithm"],
        certificate_pem=row["certificate_pem"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        next_attempt_at=row["next_attempt_at"],
        lease_until=row["lease_until"],
        form_no=row["form_no"],
        applied_at=row["applied_at"],
        reason=row["reason"],
        waiting_since=row["waiting_since"],
        updated_at=row["updated_at"],
        trace_context=dict(row["trace_context"] or {}),
    )


def _view(row: asyncpg.Record) -> ApplicationView:
    return ApplicationView(
        application_id=row["application_id"],
        enterprise_code=row["enterprise_code"],
        submission_id=row["submission_id"],
        status=row["status"],
        status_reason=row["status_reason"],
        form_no=row["form_no"],
        license_no=row["license_no"],
        applied_at=row["applied_at"],
    )


def _binding(row: asyncpg.Record) -> Binding:
    return Binding(
        enterprise_code=row["enterprise_code"],
        ekey_serial=row["ekey_serial"],
        subject=row["subject"],
        certificate_pem=row["certificate_pem"],
        bound_at=row["bound_at"],
        bound_by=row["bound_by"],
    )


def _unbinding(row: asyncpg.Record) -> Unbinding:
    return Unbinding(
        enterprise_code=row["enterprise_code"],
        ekey_serial=row["ekey_serial"],
        subject=row["subject"],
        bound_at=row["bound_at"],
        bound_by=row["bound_by"],
        unbound_at=row["unbound_at"],
        unbound_by=row["unbound_by"],
    )


def _present(row: asyncpg.Record) -> PresentKey:
    return PresentKey(
        serial=row["serial"],
        host_id=row["host_id"],
        subject=row["subject"],
        label=row["label"],
        algorithm=row["algorithm"],
        certificate_pem=row["certificate_pem"],
        enterprise_codes=tuple(row["enterprise_codes"]),
        last_seen=row["last_seen"],
    )


class SubmissionRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, sub: Submission) -> bool:
        """Insert a new submission; False when it exists already (a repeated event)."""
        inserted = await self.conn.fetchval(
            f"""INSERT INTO {SCHEMA}.submissions
                (submission_id, application_id, enterprise_code, serial_no, snapshot, state, trace_context)
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (submission_id) DO NOTHING RETURNING 1""",
            sub.submission_id,
            sub.application_id,
            sub.enterprise_code,
            sub.serial_no,
            sub.snapshot,
            sub.state,
            # The trace of the submit (the consumer continues it): the send to MOFCOM, later and
            # in another task, continues it from here.
            sub.trace_context or stored_trace_context(),
        )
        return inserted is not None

    async def get(self, *, submission_id: UUID, for_update: bool = False) -> Submission | None:
        row = await self.conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.submissions WHERE submission_id = $1"
            + (" FOR UPDATE" if for_update else ""),
            submission_id,
        )
        return None if row is None else _submission(row)

    async def signed(self, *, application_id: UUID, enterprise_codes: Sequence[str]) -> list[Submission]:
        rows = await self.conn.fetch(
            f"""SELECT * FROM {SCHEMA}.submissions
                WHERE application_id = $1 AND enterprise_code = ANY($2::text[]) AND signature IS NOT NULL
                ORDER BY created_at DESC""",
            application_id,
            list(enterprise_codes),
        )
        return [_submission(r) for r in rows]

    async def by_form(self, *, form_no: str) -> Submission | None:
        row = await self.conn.fetchrow(f"SELECT * FROM {SCHEMA}.submissions WHERE form_no = $1", form_no)
        return None if row is None else _submission(row)

    async def save(self, sub: Submission) -> None:
        sets = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(_MUTABLE))
        await self.conn.execute(
            f"UPDATE {SCHEMA}.submissions SET {sets}, updated_at = now() WHERE submission_id = $1",
            sub.submission_id,
            *[getattr(sub, name) for name in _MUTABLE],
        )

    async def note_error(self, *, submission_id: UUID, error: str) -> None:
        """Say on the row why recording MOFCOM's answer failed (its lease expires, it is sent again)."""
        await self.conn.execute(
            f"UPDATE {SCHEMA}.submissions SET last_error = $2, updated_at = now() WHERE submission_id = $1",
            submission_id,
            error[:1000],
        )

    async def waiting(self, *, serials: Sequence[str] | None = None, limit: int = 500) -> list[Submission]:
        """Submissions waiting for their e-key (all, or those of ``serials``), locked."""
        rows = await self.conn.fetch(
            f"""SELECT * FROM {SCHEMA}.submissions
            WHERE state = '{WAITING_EKEY}' AND ($1::text[] IS NULL OR ekey_serial = ANY($1::text[]))
            ORDER BY waiting_since LIMIT $2 FOR UPDATE SKIP LOCKED""",
            None if serials is None else list(serials),
            limit,
        )
        return [_submission(r) for r in rows]

    async def in_flight(self, *, enterprise_code: str, ekey_serial: str) -> int:
        """Submissions of the enterprise being signed with this e-key, waiting for it, or signed
        and not yet answered by MOFCOM (which checks their signature against its certificate)."""
        count: int = await self.conn.fetchval(
            f"""SELECT count(*) FROM {SCHEMA}.submissions
            WHERE enterprise_code = $1 AND ekey_serial = $2 AND state = ANY($3::text[])""",
            enterprise_code,
            ekey_serial,
            [SIGNING, WAITING_EKEY, SIGNED],
        )
        return count

    async def stranded(self, *, older_than_seconds: float, limit: int = 500) -> list[Submission]:
        """Signature requests sent to a host that no longer announces the key (it may be gone for
        good, or the key moved to another host): candidates to be sent again, locked."""
        rows = await self.conn.fetch(
            f"""SELECT s.* FROM {SCHEMA}.submissions s
            WHERE s.state = 'signing' AND s.ekey_serial IS NOT NULL
              AND s.updated_at < now() - make_interval(secs => $1)
              AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.ekey_presence p WHERE p.serial = s.ekey_serial
                              AND p.host_id = s.signer_host AND p.{FRESH})
            ORDER BY s.updated_at LIMIT $2 FOR UPDATE OF s SKIP LOCKED""",
            older_than_seconds,
            limit,
        )
        return [_submission(r) for r in rows]

    async def claim_due(self, *, limit: int, lease_seconds: float) -> list[Submission]:
        """Signed submissions due to be sent, each leased for ``lease_seconds`` (several replicas
        share the work) with its attempt counted."""
        rows = await self.conn.fetch(
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
        return [_submission(r) for r in rows]


class OpsActionRepository:
    """What operations did with a MOFCOM send (resend, close): who, when, why."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def record(self, *, submission_id: UUID, action: str, reason: str, actor: str) -> None:
        await self.conn.execute(
            f"INSERT INTO {SCHEMA}.ops_actions (submission_id, action, reason, actor)"
            " VALUES ($1, $2, $3, $4)",
            submission_id,
            action,
            reason,
            actor,
        )


class ApplicationRepository:
    """This service's own view of the applications it has seen submitted."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get(
        self,
        *,
        application_id: UUID,
        enterprise_codes: Sequence[str] | None = None,
        for_update: bool = False,
    ) -> ApplicationView | None:
        sql = f"SELECT * FROM {SCHEMA}.applications WHERE application_id = $1"
        args: list[Any] = [application_id]
        if enterprise_codes is not None:
            sql += " AND enterprise_code = ANY($2::text[])"
            args.append(list(enterprise_codes))
        if for_update:
            sql += " FOR UPDATE"
        row = await self.conn.fetchrow(sql, *args)
        return None if row is None else _view(row)

    async def save(self, view: ApplicationView) -> None:
        await self.conn.execute(
            f"""INSERT INTO {SCHEMA}.applications
                (application_id, enterprise_code, submission_id, status, status_reason, form_no,
                 license_no, applied_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (application_id) DO UPDATE SET submission_id = EXCLUDED.submission_id,
                status = EXCLUDED.status, status_reason = EXCLUDED.status_reason,
                form_no = EXCLUDED.form_no, license_no = EXCLUDED.license_no,
                applied_at = EXCLUDED.applied_at, updated_at = now()""",
            view.application_id,
            view.enterprise_code,
            view.submission_id,
            view.status,
            view.status_reason,
            view.form_no,
            view.license_no,
            view.applied_at,
        )


class EkeyRepository:
    """Which e-keys the signer hosts announce (heartbeats) and which one each enterprise bound."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def record_heartbeat(
        self, *, host_id: str, keys: Sequence[HeldKey], sent_at: datetime, ttl: float
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

    async def present(self, *, enterprise_codes: Sequence[str]) -> list[PresentKey]:
        """The keys of these enterprises a signer host announces right now (latest host each)."""
        rows = await self.conn.fetch(
            f"""SELECT DISTINCT ON (serial) * FROM {SCHEMA}.ekey_presence
            WHERE enterprise_codes && $1::text[] AND {FRESH}
            ORDER BY serial, last_seen DESC""",
            list(enterprise_codes),
        )
        return [_present(r) for r in rows]

    async def binding(self, *, enterprise_code: str) -> Binding | None:
        row = await self.conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.ekey_bindings WHERE enterprise_code = $1", enterprise_code
        )
        return None if row is None else _binding(row)

    async def bindings(self, *, enterprise_codes: Sequence[str]) -> list[Binding]:
        rows = await self.conn.fetch(
            f"SELECT * FROM {SCHEMA}.ekey_bindings WHERE enterprise_code = ANY($1::text[])"
            " ORDER BY enterprise_code",
            list(enterprise_codes),
        )
        return [_binding(r) for r in rows]

    async def bind(
        self, *, enterprise_code: str, ekey_serial: str, subject: str, certificate_pem: str, bound_by: str
    ) -> Binding:
        row = await self.conn.fetchrow(
            f"""INSERT INTO {SCHEMA}.ekey_bindings
                (enterprise_code, ekey_serial, subject, certificate_pem, bound_by)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (enterprise_code) DO UPDATE SET ekey_serial = EXCLUDED.ekey_serial,
                subject = EXCLUDED.subject, certificate_pem = EXCLUDED.certificate_pem,
                bound_by = EXCLUDED.bound_by, bound_at = now()
            RETURNING *""",
            enterprise_code,
            ekey_serial,
            subject,
            certificate_pem,
            bound_by,
        )
        assert row is not None  # INSERT ... RETURNING always returns the row
        return _binding(row)

    async def binding_of(
        self, *, enterprise_codes: Sequence[str], ekey_serial: str, for_update: bool = False
    ) -> Binding | None:
        """The binding of this e-key to one of these enterprises (None: none of theirs)."""
        row = await self.conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.ekey_bindings WHERE enterprise_code = ANY($1::text[])"
            " AND ekey_serial = $2 ORDER BY enterprise_code LIMIT 1" + (" FOR UPDATE" if for_update else ""),
            list(enterprise_codes),
            ekey_serial,
        )
        return None if row is None else _binding(row)

    async def unbind(self, *, binding: Binding, unbound_by: str) -> Unbinding:
        """Remove the binding and record its withdrawal, in the caller's transaction."""
        await self.conn.execute(
            f"DELETE FROM {SCHEMA}.ekey_bindings WHERE enterprise_code = $1 AND ekey_serial = $2",
            binding.enterprise_code,
            binding.ekey_serial,
        )
        row = await self.conn.fetchrow(
            f"""INSERT INTO {SCHEMA}.ekey_unbindings
                (enterprise_code, ekey_serial, subject, bound_at, bound_by, unbound_by)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
            binding.enterprise_code,
            binding.ekey_serial,
            binding.subject,
            binding.bound_at,
            binding.bound_by,
            unbound_by,
        )
        assert row is not None  # INSERT ... RETURNING always returns the row
        return _unbinding(row)

    async def last_unbinding(self, *, enterprise_codes: Sequence[str], ekey_serial: str) -> Unbinding | None:
        """The latest withdrawal of this e-key's binding by one of these enterprises."""
        row = await self.conn.fetchrow(
            f"""SELECT * FROM {SCHEMA}.ekey_unbindings
            WHERE enterprise_code = ANY($1::text[]) AND ekey_serial = $2 ORDER BY id DESC LIMIT 1""",
            list(enterprise_codes),
            ekey_serial,
        )
        return None if row is None else _unbinding(row)


class ReviewResultRepository:
    """Each MOFCOM review result once per (form no., stage)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def recorded(self, *, form_no: str) -> dict[str, tuple[str, str | None]]:
        """The results recorded for a form no.: stage -> (result, license no.)."""
        rows = await self.conn.fetch(
            f"SELECT stage, result, license_no FROM {SCHEMA}.review_results WHERE form_no = $1", form_no
        )
        return {r["stage"]: (r["result"], r["license_no"]) for r in rows}

    async def add(
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
