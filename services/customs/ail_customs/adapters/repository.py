"""Repositories of the customs service (schema ``customs``): SQL in named constants, keyword-only
methods, domain objects in and out. They run on the unit of work's connection, inside its
transaction. Each has a Protocol beside it; the unit tests' fakes (``tests/unit/customs/fakes.py``)
implement the same Protocols in memory."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import asyncpg

from ail_customs.domain.feed import FeedCursor, MessageOutcome
from ail_customs.domain.ledger import LedgerEntry
from ail_customs.domain.model import CustomsApplication, Declaration, HistoryEntry, License
from ail_shared.calendar import CHINA
from ail_shared.errors import NotFound
from ail_shared.events import ClearanceLine
from ail_shared.telemetry import stored_trace_context

SCHEMA = "customs"


# ---------------------------------------------------------------------------------- protocols


class ApplicationStore(Protocol):
    async def get(self, *, application_id: str) -> CustomsApplication | None: ...

    async def save(self, app: CustomsApplication) -> None: ...


class LicenseStore(Protocol):
    async def add(self, lic: License) -> bool: ...

    async def get(self, *, license_no: str, for_update: bool = False) -> License | None: ...

    async def of_tenant(
        self, *, license_no: str, enterprise_codes: Sequence[str], for_update: bool = False
    ) -> License: ...

    async def lock_many(self, *, license_nos: Iterable[str]) -> dict[str, License]: ...

    async def claim_due(self, *, limit: int, lease_seconds: float) -> list[License]: ...

    async def save_delivery(self, lic: License) -> None: ...

    async def append_entry(self, *, lic: License, entry: LedgerEntry, message_id: str) -> None: ...

    async def save_state(self, lic: License) -> None: ...

    async def claim_due_cancellations(self, *, limit: int, lease_seconds: float) -> list[License]: ...

    async def release_replacement(self, *, replaces_license_no: str) -> bool: ...

    async def lock_expired(self, *, limit: int) -> list[License]: ...

    async def record_new_declaration(
        self, *, lic: License, entry: LedgerEntry, declaration: Declaration, message_id: str
    ) -> bool: ...


class DeclarationStore(Protocol):
    async def existing(self, *, declaration_nos: Iterable[str]) -> set[str]: ...

    async def get(self, *, declaration_no: str, for_update: bool = False) -> Declaration | None: ...

    async def save_revision(self, declaration: Declaration) -> None: ...

    async def set_state(self, *, declaration_no: str, state: str) -> None: ...


class FeedStore(Protocol):
    async def cursor(self, *, feed: str, for_update: bool = False) -> FeedCursor | None: ...

    async def set_cursor(self, *, feed: str, cursor: FeedCursor) -> None: ...

    async def seen(self, *, message_ids: Iterable[str]) -> set[str]: ...

    async def record(self, *, outcomes: Sequence[MessageOutcome]) -> None: ...


class OpsActionStore(Protocol):
    async def record(self, *, license_no: str, action: str, reason: str, actor: str) -> None: ...


class HistoryStore(Protocol):
    async def add(self, entry: HistoryEntry) -> None: ...

    async def add_many(self, entries: Sequence[HistoryEntry]) -> None: ...


# ---------------------------------------------------------------------------------- rows


def _json(value: Any) -> Any:
    """A JSON column's value with Decimals and dates as strings (the pool's codec writes JSON)."""
    return json.loads(json.dumps(value, default=str))


def license_from(row: Mapping[str, Any]) -> License:
    return License(
        license_no=row["license_no"],
        application_id=row["application_id"],
        enterprise_code=row["enterprise_code"],
        form_no=row["form_no"],
        commodity_code=row["commodity_code"],
        commodity_name=row["commodity_name"],
        unit=row["unit"],
        quantity=row["quantity"],
        one_batch_one_license=row["one_batch_one_license"],
        issued_at=row["issued_at"],
        valid_until=row["valid_until"],
        tolerance_pct=row["tolerance_pct"],
        tolerance_source=row["tolerance_source"],
        customs_status=row["customs_status"],
        delivery_rounds=row["delivery_rounds"],
        failed_rounds=row["failed_rounds"],
        next_delivery_at=row["next_delivery_at"],
        last_delivery_detail=row["last_delivery_detail"],
        used_quantity=row["used_quantity"],
        uses=row["uses"],
        ledger_entries=row["ledger_entries"],
        trace_context=dict(row.get("trace_context") or {}),
        state=row["state"],
        state_reason=row["state_reason"],
        state_detail=row["state_detail"],
        state_changed_at=row["state_changed_at"],
        unused_quantity=row["unused_quantity"],
        replaces_license_no=row["replaces_license_no"],
        replaced_by=row["replaced_by"],
        max_uses=row["max_uses"],
        reissue_application_id=row["reissue_application_id"],
        cancellation_status=row["cancellation_status"],
        cancellation_rounds=row["cancellation_rounds"],
        next_cancellation_at=row["next_cancellation_at"],
    )


def _lines(raw: Any) -> tuple[ClearanceLine, ...]:
    items = json.loads(raw) if isinstance(raw, str) else raw or []
    return tuple(ClearanceLine.model_validate(item) for item in items)


def declaration_from(row: Mapping[str, Any]) -> Declaration:
    return Declaration(
        declaration_no=row["declaration_no"],
        license_no=row["license_no"],
        enterprise_code=row["enterprise_code"],
        declared_at=row["declared_at"],
        quantity=row["quantity"],
        state=row["state"],
        port=row["port"],
        lines=_lines(row["lines"]),
        refusal_reason=row["refusal_reason"],
    )


def _lines_json(declaration: Declaration) -> list[dict[str, Any]]:
    return [line.model_dump(mode="json") for line in declaration.lines]


# ---------------------------------------------------------------------------------- applications

GET_APPLICATION = f"SELECT * FROM {SCHEMA}.applications WHERE application_id = $1 FOR UPDATE"

SAVE_APPLICATION = f"""
INSERT INTO {SCHEMA}.applications AS a (application_id, enterprise_code, serial_no, year, form_no,
    license_no, commodity_code, commodity_name, application_status, applied_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())
ON CONFLICT (application_id) DO UPDATE SET
    serial_no = EXCLUDED.serial_no, year = EXCLUDED.year, form_no = EXCLUDED.form_no,
    license_no = EXCLUDED.license_no, commodity_code = EXCLUDED.commodity_code,
    commodity_name = EXCLUDED.commodity_name, application_status = EXCLUDED.application_status,
    applied_at = EXCLUDED.applied_at, updated_at = now()
"""


class ApplicationRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get(self, *, application_id: str) -> CustomsApplication | None:
        """The application, locked for the rest of the transaction (its events apply in order)."""
        row = await self.conn.fetchrow(GET_APPLICATION, application_id)
        if row is None:
            return None
        return CustomsApplication(
            application_id=row["application_id"],
            enterprise_code=row["enterprise_code"],
            status=row["application_status"],
            serial_no=row["serial_no"],
            year=row["year"],
            form_no=row["form_no"],
            license_no=row["license_no"],
            commodity_code=row["commodity_code"],
            commodity_name=row["commodity_name"] or "",
            applied_at=row["applied_at"],
        )

    async def save(self, app: CustomsApplication) -> None:
        if app.status is None:
            raise ValueError(f"application {app.application_id} has no status to store")
        await self.conn.execute(
            SAVE_APPLICATION,
            app.application_id,
            app.enterprise_code,
            app.serial_no,
            app.year,
            app.form_no,
            app.license_no,
            app.commodity_code,
            app.commodity_name,
            str(app.status),
            app.applied_at,
        )


# ---------------------------------------------------------------------------------- licenses

INSERT_LICENSE = f"""
INSERT INTO {SCHEMA}.licenses (license_no, application_id, enterprise_code, form_no, commodity_code,
    commodity_name, unit, quantity, one_batch_one_license, issued_at, valid_until, tolerance_pct,
    tolerance_source, next_delivery_at, replaces_license_no, max_uses, trace_context)
-- A replacement waits (next_delivery_at NULL) until Customs has the old one's cancellation.
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
    CASE WHEN $14::bool THEN NULL ELSE now() END, $15, $16, $17)
ON CONFLICT (license_no) DO NOTHING
RETURNING license_no
"""

GET_LICENSE = f"SELECT * FROM {SCHEMA}.licenses WHERE license_no = $1"
LICENSE_OF_TENANT = (
    f"SELECT * FROM {SCHEMA}.licenses WHERE license_no = $1 AND enterprise_code = ANY($2::text[])"
)
# In key order, so that two writers locking the licenses of a page cannot deadlock.
LOCK_LICENSES = (
    f"SELECT * FROM {SCHEMA}.licenses WHERE license_no = ANY($1::text[]) ORDER BY license_no FOR UPDATE"
)

# Claim due licenses for one delivery round: status not_arrived, and the next try pushed to the
# end of a lease, so a worker that dies mid-round is replaced once the lease is over.
CLAIM_DUE = f"""
UPDATE {SCHEMA}.licenses SET customs_status = 'not_arrived', delivery_rounds = delivery_rounds + 1,
    next_delivery_at = now() + make_interval(secs => $2), updated_at = now()
WHERE license_no IN (
    SELECT license_no FROM {SCHEMA}.licenses WHERE next_delivery_at <= now()
    ORDER BY next_delivery_at LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING *
"""

# The same lease for a cancellation round (surrendered or cancelled licenses Customs must hear of).
CLAIM_DUE_CANCELLATIONS = f"""
UPDATE {SCHEMA}.licenses SET cancellation_status = 'not_arrived',
    cancellation_rounds = cancellation_rounds + 1,
    next_cancellation_at = now() + make_interval(secs => $2), updated_at = now()
WHERE license_no IN (
    SELECT license_no FROM {SCHEMA}.licenses WHERE next_cancellation_at <= now()
    ORDER BY next_cancellation_at LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING *
"""

SAVE_STATE = f"""
UPDATE {SCHEMA}.licenses SET state = $2, state_reason = $3, state_detail = $4, state_changed_at = $5,
    unused_quantity = $6, replaced_by = $7, reissue_application_id = $8, cancellation_status = $9,
    next_cancellation_at = $10, quantity = $11, max_uses = $12,
    next_delivery_at = CASE WHEN $2 IN ('surrendered', 'cancelled') THEN NULL ELSE next_delivery_at END,
    updated_at = now()
WHERE license_no = $1
"""

# The replacement of a license whose cancellation Customs now holds becomes due for delivery.
RELEASE_REPLACEMENT = f"""
UPDATE {SCHEMA}.licenses SET next_delivery_at = now(), updated_at = now()
WHERE replaces_license_no = $1 AND customs_status IS NULL AND next_delivery_at IS NULL
RETURNING license_no
"""

# The expiry sweep: valid licenses whose last day (a China date) is before today in China.
# SKIP LOCKED: several replicas sweep at once without waiting on (or double-expiring) each other.
LOCK_EXPIRED = f"""
SELECT * FROM {SCHEMA}.licenses
WHERE state = 'valid' AND valid_until < (now() AT TIME ZONE $2::text)::date
ORDER BY valid_until, license_no LIMIT $1 FOR UPDATE SKIP LOCKED
"""

SAVE_DELIVERY = f"""
UPDATE {SCHEMA}.licenses SET customs_status = $2, failed_rounds = $3, next_delivery_at = $4,
    last_delivery_detail = $5, updated_at = now()
WHERE license_no = $1
"""

APPEND_ENTRY = f"""
WITH e AS (
    INSERT INTO {SCHEMA}.ledger_entries (license_no, entry_no, kind, declaration_no, quantity,
        occurred_at, reason, detail, used_after, uses_after, message_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11))
UPDATE {SCHEMA}.licenses SET used_quantity = $9, uses = $10, ledger_entries = $2, updated_at = now()
WHERE license_no = $1
"""

# The declaration (if its number is new), its ledger entry and the license's balances, in one
# statement; nothing is written when the declaration number exists.
RECORD_NEW_DECLARATION = f"""
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
"""


class OpsActionRepository:
    """What operations did with a delivery (resend, close): who, when, why."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def record(self, *, license_no: str, action: str, reason: str, actor: str) -> None:
        await self.conn.execute(
            f"INSERT INTO {SCHEMA}.ops_actions (license_no, action, reason, actor) VALUES ($1, $2, $3, $4)",
            license_no,
            action,
            reason,
            actor,
        )


class LicenseRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, lic: License) -> bool:
        """Store a newly issued license, due for delivery now. False: it was known already."""
        got = await self.conn.fetchval(
            INSERT_LICENSE,
            lic.license_no,
            lic.application_id,
            lic.enterprise_code,
            lic.form_no,
            lic.commodity_code,
            lic.commodity_name,
            lic.unit,
            lic.quantity,
            lic.one_batch_one_license,
            lic.issued_at,
            lic.valid_until,
            lic.tolerance_pct,
            lic.tolerance_source,
            lic.replaces_license_no is not None,
            lic.replaces_license_no,
            lic.max_uses,
            lic.trace_context or stored_trace_context(),
        )
        return got is not None

    async def save_state(self, lic: License) -> None:
        """The license's state, why, and its cancellation's delivery (and a replacement's cap)."""
        await self.conn.execute(
            SAVE_STATE,
            lic.license_no,
            str(lic.state),
            lic.state_reason,
            lic.state_detail,
            lic.state_changed_at,
            lic.unused_quantity,
            lic.replaced_by,
            lic.reissue_application_id,
            lic.cancellation_status,
            lic.next_cancellation_at,
            lic.quantity,
            lic.max_uses,
        )

    async def claim_due_cancellations(self, *, limit: int, lease_seconds: float) -> list[License]:
        rows = await self.conn.fetch(CLAIM_DUE_CANCELLATIONS, limit, lease_seconds)
        return [license_from(r) for r in rows]

    async def release_replacement(self, *, replaces_license_no: str) -> bool:
        return await self.conn.fetchval(RELEASE_REPLACEMENT, replaces_license_no) is not None

    async def lock_expired(self, *, limit: int) -> list[License]:
        # Today in China (ail_shared.calendar.CHINA), computed by the database at the sweep.
        rows = await self.conn.fetch(LOCK_EXPIRED, limit, CHINA.key)
        return [license_from(r) for r in rows]

    async def get(self, *, license_no: str, for_update: bool = False) -> License | None:
        row = await self.conn.fetchrow(GET_LICENSE + (" FOR UPDATE" if for_update else ""), license_no)
        return license_from(row) if row is not None else None

    async def of_tenant(
        self, *, license_no: str, enterprise_codes: Sequence[str], for_update: bool = False
    ) -> License:
        """The license if it belongs to one of ``enterprise_codes``; NotFound (404) otherwise."""
        row = await self.conn.fetchrow(
            LICENSE_OF_TENANT + (" FOR UPDATE" if for_update else ""), license_no, list(enterprise_codes)
        )
        if row is None:
            raise NotFound(f"license {license_no} not found")
        return license_from(row)

    async def lock_many(self, *, license_nos: Iterable[str]) -> dict[str, License]:
        rows = await self.conn.fetch(LOCK_LICENSES, sorted(set(license_nos)))
        return {r["license_no"]: license_from(r) for r in rows}

    async def claim_due(self, *, limit: int, lease_seconds: float) -> list[License]:
        rows = await self.conn.fetch(CLAIM_DUE, limit, lease_seconds)
        return [license_from(r) for r in rows]

    async def save_delivery(self, lic: License) -> None:
        await self.conn.execute(
            SAVE_DELIVERY,
            lic.license_no,
            lic.customs_status,
            lic.failed_rounds,
            lic.next_delivery_at,
            lic.last_delivery_detail,
        )

    async def append_entry(self, *, lic: License, entry: LedgerEntry, message_id: str) -> None:
        """Store ``entry`` as entry number ``lic.ledger_entries`` (the license has booked it) and
        the license's new balances, in one statement."""
        await self.conn.execute(
            APPEND_ENTRY,
            lic.license_no,
            lic.ledger_entries,
            entry.kind.value,
            entry.declaration_no,
            entry.quantity,
            entry.occurred_at,
            entry.reason,
            entry.detail,
            lic.used_quantity,
            lic.uses,
            message_id,
        )

    async def record_new_declaration(
        self, *, lic: License, entry: LedgerEntry, declaration: Declaration, message_id: str
    ) -> bool:
        """A new declaration with its ledger entry (number ``lic.ledger_entries``) and the
        license's balances. False when the declaration number exists (nothing written)."""
        got = await self.conn.fetchval(
            RECORD_NEW_DECLARATION,
            declaration.declaration_no,
            lic.license_no,
            declaration.enterprise_code,
            declaration.declared_at,
            declaration.port,
            declaration.quantity,
            _lines_json(declaration),
            declaration.state,
            declaration.refusal_reason,
            lic.ledger_entries,
            entry.kind.value,
            entry.detail,
            lic.used_quantity,
            lic.uses,
            message_id,
        )
        return bool(got)


# ---------------------------------------------------------------------------------- declarations

EXISTING_DECLARATIONS = (
    f"SELECT declaration_no FROM {SCHEMA}.declarations WHERE declaration_no = ANY($1::text[])"
)
GET_DECLARATION = f"SELECT * FROM {SCHEMA}.declarations WHERE declaration_no = $1"
# An amended declaration stands again as its next revision.
SAVE_REVISION = f"""
INSERT INTO {SCHEMA}.declarations AS d (declaration_no, license_no, enterprise_code, declared_at,
    port, quantity, lines, state, refusal_reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (declaration_no) DO UPDATE SET declared_at = EXCLUDED.declared_at,
    port = EXCLUDED.port, quantity = EXCLUDED.quantity, lines = EXCLUDED.lines,
    state = EXCLUDED.state, refusal_reason = EXCLUDED.refusal_reason,
    revision = d.revision + 1, updated_at = now()
"""
SET_DECLARATION_STATE = (
    f"UPDATE {SCHEMA}.declarations SET state = $2, updated_at = now() WHERE declaration_no = $1"
)


class DeclarationRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def existing(self, *, declaration_nos: Iterable[str]) -> set[str]:
        rows = await self.conn.fetch(EXISTING_DECLARATIONS, sorted(set(declaration_nos)))
        return {r["declaration_no"] for r in rows}

    async def get(self, *, declaration_no: str, for_update: bool = False) -> Declaration | None:
        row = await self.conn.fetchrow(
            GET_DECLARATION + (" FOR UPDATE" if for_update else ""), declaration_no
        )
        return declaration_from(row) if row is not None else None

    async def save_revision(self, declaration: Declaration) -> None:
        await self.conn.execute(
            SAVE_REVISION,
            declaration.declaration_no,
            declaration.license_no,
            declaration.enterprise_code,
            declaration.declared_at,
            declaration.port,
            declaration.quantity,
            _lines_json(declaration),
            declaration.state,
            declaration.refusal_reason,
        )

    async def set_state(self, *, declaration_no: str, state: str) -> None:
        await self.conn.execute(SET_DECLARATION_STATE, declaration_no, state)


# ---------------------------------------------------------------------------------- feed

GET_CURSOR = f"SELECT epoch, position FROM {SCHEMA}.feed_cursor WHERE feed = $1"
SET_CURSOR = f"""
INSERT INTO {SCHEMA}.feed_cursor (feed, epoch, position) VALUES ($1, $2, $3)
ON CONFLICT (feed) DO UPDATE SET epoch = $2, position = $3, updated_at = now()
"""
SEEN_MESSAGES = f"SELECT message_id FROM {SCHEMA}.clearance_messages WHERE message_id = ANY($1::text[])"
RECORD_MESSAGES = f"""
INSERT INTO {SCHEMA}.clearance_messages (message_id, kind, license_no, outcome, detail)
VALUES ($1, $2, $3, $4, $5)
"""


class FeedRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def cursor(self, *, feed: str, for_update: bool = False) -> FeedCursor | None:
        """The stored cursor; ``for_update`` serialises replicas applying the feed."""
        row = await self.conn.fetchrow(GET_CURSOR + (" FOR UPDATE" if for_update else ""), feed)
        return FeedCursor(row["epoch"], row["position"]) if row is not None else None

    async def set_cursor(self, *, feed: str, cursor: FeedCursor) -> None:
        await self.conn.execute(SET_CURSOR, feed, cursor.epoch, cursor.position)

    async def seen(self, *, message_ids: Iterable[str]) -> set[str]:
        rows = await self.conn.fetch(SEEN_MESSAGES, list(message_ids))
        return {r["message_id"] for r in rows}

    async def record(self, *, outcomes: Sequence[MessageOutcome]) -> None:
        if outcomes:
            await self.conn.executemany(
                RECORD_MESSAGES,
                [(o.message_id, o.kind, o.license_no, o.outcome, o.detail) for o in outcomes],
            )


# ---------------------------------------------------------------------------------- history

ADD_HISTORY = f"""
INSERT INTO {SCHEMA}.history (application_id, enterprise_code, license_no, occurred_at, kind,
    summary, data)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""


def _history_args(e: HistoryEntry) -> tuple[Any, ...]:
    return (
        e.application_id,
        e.enterprise_code,
        e.license_no,
        e.occurred_at,
        e.kind,
        e.summary,
        _json(e.data),
    )


class HistoryRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, entry: HistoryEntry) -> None:
        await self.conn.execute(ADD_HISTORY, *_history_args(entry))

    async def add_many(self, entries: Sequence[HistoryEntry]) -> None:
        if entries:
            await self.conn.executemany(ADD_HISTORY, [_history_args(e) for e in entries])
