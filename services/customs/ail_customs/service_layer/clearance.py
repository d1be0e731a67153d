"""Clearance data from Customs into the license ledger.

Delivery choice: the customs service **polls** Customs' clearance feed with a cursor (not a
callback). Each page is applied in one transaction together with the new cursor position, and
every message is claimed by Customs' ``message_id`` first, so a message delivered twice (re-sent
by Customs, re-read after a crash or after Customs' feed starts over with a new ``epoch``) is
counted once. Ledger entries, the declaration, the ``ClearanceRecorded`` / ``ClearanceRefused`` /
``ClearanceReversed`` event (outbox) and the history commit together.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from ail_customs.adapters.customs_client import CustomsSystem
from ail_customs.adapters.repository import SCHEMA, CustomsRepository, ledger_from
from ail_customs.domain.ledger import EntryKind
from ail_shared import topics
from ail_shared.events import (
    ClearanceLine,
    ClearanceRecorded,
    ClearanceRefused,
    ClearanceReversed,
    Event,
    envelope_for,
)
from ail_shared.logging import get_logger
from ail_shared.outbox import write_event

log = get_logger("ail.customs.clearance")
FEED = "customs-clearance"
CHINA = ZoneInfo("Asia/Shanghai")  # a declaration's date is its date in China


def parse_lines(raw: list[dict[str, Any]]) -> list[ClearanceLine]:
    return [
        ClearanceLine(
            line_no=int(item.get("line_no", i + 1)),
            commodity_code=str(item.get("commodity_code", "")),
            quantity=Decimal(str(item["quantity"])),
            unit=str(item.get("unit", "")),
        )
        for i, item in enumerate(raw)
    ]


async def _emit(conn: asyncpg.Connection, lic: asyncpg.Record, event: Event) -> None:
    await write_event(
        conn,
        schema=SCHEMA,
        topic=topics.CUSTOMS,
        envelope=envelope_for(event, aggregate_id=lic["application_id"], tenant=lic["enterprise_code"]),
    )


async def apply_message(conn: asyncpg.Connection, msg: dict[str, Any]) -> str:
    """Apply one feed message inside the caller's transaction; return its outcome."""
    repo = CustomsRepository(conn)
    message_id = str(msg["message_id"])
    kind = str(msg["kind"])
    license_no = msg.get("license_no")
    if not await repo.claim_message(message_id, kind, license_no):
        return "duplicate"
    lic = await repo.license_for_update(str(license_no)) if license_no else None
    if lic is None:
        await repo.message_outcome(message_id, "unknown_license", f"no license {license_no}")
        log.warning("clearance_unknown_license", message_id=message_id, license_no=license_no)
        return "unknown_license"
    declaration_no = str(msg["declaration_no"])
    at = datetime.fromisoformat(str(msg.get("occurred_at") or msg["declared_at"]))
    if kind == "declared":
        decl = await repo.declaration_for_update(declaration_no)
        if decl is not None:
            await repo.message_outcome(message_id, "ignored", "declaration already reported")
            return "ignored"
        outcome = await _use(conn, repo, lic, msg, message_id, declaration_no)
    elif kind in ("amended", "invalidated"):
        outcome = await _reverse(conn, repo, lic, msg, message_id, declaration_no, kind, at)
    else:
        outcome = "ignored"
    await repo.message_outcome(message_id, outcome)
    return outcome


async def _use(
    conn: asyncpg.Connection,
    repo: CustomsRepository,
    lic: asyncpg.Record,
    msg: dict[str, Any],
    message_id: str,
    declaration_no: str,
) -> str:
    lines = parse_lines(list(msg.get("lines") or []))
    quantity = sum((line.quantity for line in lines), Decimal(0)) if lines else Decimal(str(msg["quantity"]))
    declared_at = datetime.fromisoformat(str(msg["declared_at"]))
    port = str(msg.get("port", ""))
    ledger = ledger_from(lic)
    entry = ledger.record_use(declaration_no, quantity, declared_at, declared_at.astimezone(CHINA).date())
    await repo.append_entries(lic, ledger, [entry], message_id)
    accepted = entry.kind is EntryKind.USE
    await repo.save_declaration(
        declaration_no=declaration_no,
        license_no=lic["license_no"],
        enterprise_code=lic["enterprise_code"],
        declared_at=declared_at,
        port=port,
        quantity=quantity,
        lines=[line.model_dump(mode="json") for line in lines],
        state="recorded" if accepted else "refused",
        refusal_reason=entry.reason,
    )
    if accepted:
        await _emit(
            conn,
            lic,
            ClearanceRecorded(
                application_id=lic["application_id"],
                license_no=lic["license_no"],
                declaration_no=declaration_no,
                declared_at=declared_at,
                port=port,
                quantity=quantity,
                lines=lines,
            ),
        )
        summary = (
            f"declaration {declaration_no} at {port} used {quantity} {lic['unit']}: remaining"
            f" {ledger.remaining_quantity}, {ledger.remaining_uses} use(s) left"
            + (f" ({entry.detail})" if entry.detail else "")
        )
    else:
        await _emit(
            conn,
            lic,
            ClearanceRefused(
                application_id=lic["application_id"],
                license_no=lic["license_no"],
                declaration_no=declaration_no,
                declared_at=declared_at,
                quantity=quantity,
                reason=entry.reason,
                detail=entry.detail,
            ),
        )
        summary = f"declaration {declaration_no} of {quantity} refused: {entry.reason} ({entry.detail})"
    await repo.add_history(
        application_id=lic["application_id"],
        enterprise_code=lic["enterprise_code"],
        license_no=lic["license_no"],
        occurred_at=declared_at,
        kind="clearance_recorded" if accepted else "clearance_refused",
        summary=summary,
        data={"declaration_no": declaration_no, "port": port, "quantity": quantity, "reason": entry.reason},
    )
    return "applied" if accepted else "refused"


async def _reverse(
    conn: asyncpg.Connection,
    repo: CustomsRepository,
    lic: asyncpg.Record,
    msg: dict[str, Any],
    message_id: str,
    declaration_no: str,
    kind: str,
    at: datetime,
) -> str:
    decl = await repo.declaration_for_update(declaration_no)
    if decl is None or decl["license_no"] != lic["license_no"] or decl["state"] != "recorded":
        # Nothing was deducted for it (unknown, refused, or already reversed): nothing to give back.
        return "ignored"
    ledger = ledger_from(lic)
    entry = ledger.reverse(declaration_no, decl["quantity"], kind, at)
    await repo.append_entries(lic, ledger, [entry], message_id)
    await repo.set_declaration_state(declaration_no, kind)
    await _emit(
        conn,
        lic,
        ClearanceReversed(
            application_id=lic["application_id"],
            license_no=lic["license_no"],
            declaration_no=declaration_no,
            kind=kind,  # type: ignore[arg-type]
            quantity=decl["quantity"],
            reversed_at=at,
        ),
    )
    await repo.add_history(
        application_id=lic["application_id"],
        enterprise_code=lic["enterprise_code"],
        license_no=lic["license_no"],
        occurred_at=at,
        kind="clearance_reversed",
        summary=f"declaration {declaration_no} {kind}: {decl['quantity']} and one use given back;"
        f" remaining {ledger.remaining_quantity}, {ledger.remaining_uses} use(s) left",
        data={"declaration_no": declaration_no, "kind": kind, "quantity": decl["quantity"]},
    )
    if kind == "amended" and msg.get("lines"):
        # The amended declaration stands again with its new goods lines: a new use, checked anew.
        lic = await repo.license_for_update(lic["license_no"])
        assert lic is not None
        return await _use(
            conn,
            repo,
            lic,
            {**msg, "declared_at": msg.get("declared_at") or at.isoformat()},
            message_id,
            declaration_no,
        )
    return "reversed"


def _key(row: asyncpg.Record | None) -> tuple[str, int] | None:
    return (row["epoch"], row["position"]) if row is not None else None


async def apply_safely(conn: asyncpg.Connection, msg: dict[str, Any]) -> str:
    """A message that does not make sense (missing field, bad number) is set aside with the
    reason instead of blocking the feed behind it."""
    try:
        async with conn.transaction():  # savepoint
            return await apply_message(conn, msg)
    except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
        message_id = str(msg.get("message_id") or f"position-{msg.get('position')}")
        log.error("clearance_message_malformed", message_id=message_id, error=repr(exc))
        await conn.execute(
            f"INSERT INTO {SCHEMA}.clearance_messages (message_id, kind, license_no, outcome, detail)"
            " VALUES ($1, $2, $3, 'malformed', $4) ON CONFLICT DO NOTHING",
            message_id,
            str(msg.get("kind", "")),
            msg.get("license_no"),
            repr(exc)[:500],
        )
        return "malformed"


class FeedPoller:
    """Reads Customs' clearance feed after the stored cursor and applies it, page by page."""

    def __init__(
        self, pool: asyncpg.Pool, customs: CustomsSystem, *, poll_seconds: float = 0.5, page_size: int = 500
    ) -> None:
        self.pool = pool
        self.customs = customs
        self.poll_seconds = poll_seconds
        self.page_size = page_size
        self.applied = 0
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        backoff = self.poll_seconds
        while not self._stopping.is_set():
            try:
                n = await self.run_once()
                backoff = self.poll_seconds
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Customs or the database away: retry later
                log.error("clearance_feed_error", error=repr(exc), retry_in=backoff)
                n = 0
                backoff = min(backoff * 2, 10.0)
            if n < self.page_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)

    async def run_once(self) -> int:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT epoch, position FROM {SCHEMA}.feed_cursor WHERE feed = $1", FEED
            )
        position = row["position"] if row else 0
        page = await self.customs.feed(after=position, limit=self.page_size)
        if row is not None and row["epoch"] != page.epoch:
            # Customs' feed started over: read it again from the start; message ids dedup.
            log.warning("clearance_feed_new_epoch", old=row["epoch"], new=page.epoch)
            position = 0
            page = await self.customs.feed(after=0, limit=self.page_size)
        async with self.pool.acquire() as conn, conn.transaction():
            cur = await CustomsRepository(conn).cursor(FEED)  # serialises replicas
            if _key(cur) != _key(row):
                return 0  # another replica moved the cursor meanwhile
            for msg in page.messages:
                await apply_safely(conn, msg)
                position = max(position, int(msg["position"]))
            await CustomsRepository(conn).set_cursor(FEED, page.epoch, position)
        self.applied += len(page.messages)
        return len(page.messages)
