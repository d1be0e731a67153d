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
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from ail_customs.adapters.customs_client import CustomsSystem
from ail_customs.adapters.repository import SCHEMA, CustomsRepository, ledger_from
from ail_customs.domain.ledger import EntryKind, Ledger
from ail_shared import topics
from ail_shared.events import (
    ClearanceLine,
    ClearanceRecorded,
    ClearanceRefused,
    ClearanceReversed,
    Envelope,
    Event,
    envelope_for,
)
from ail_shared.logging import get_logger
from ail_shared.outbox import write_events

log = get_logger("ail.customs.clearance")
FEED = "customs-clearance"
CHINA = ZoneInfo("Asia/Shanghai")  # a declaration's date is its date in China


@dataclass(frozen=True)
class FeedMessage:
    """One message of Customs' clearance feed, checked for shape before anything is written."""

    message_id: str
    position: int
    kind: str  # declared | amended | invalidated
    declaration_no: str
    license_no: str
    declared_at: datetime
    occurred_at: datetime
    port: str
    lines: tuple[ClearanceLine, ...]
    quantity: Decimal


def _ts(raw: Any) -> datetime:
    ts = datetime.fromisoformat(str(raw))
    if ts.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {raw!r}")
    return ts


def parse_message(raw: dict[str, Any]) -> FeedMessage:
    """Raises KeyError / ValueError / ArithmeticError for a message that does not make sense."""
    lines = tuple(
        ClearanceLine(
            line_no=int(item.get("line_no", i + 1)),
            commodity_code=str(item.get("commodity_code", "")),
            quantity=Decimal(str(item["quantity"])),
            unit=str(item.get("unit", "")),
        )
        for i, item in enumerate(raw.get("lines") or [])
    )
    quantity = (
        sum((line.quantity for line in lines), Decimal(0)) if lines else Decimal(str(raw.get("quantity", 0)))
    )
    if not quantity.is_finite():
        raise ValueError(f"quantity {quantity} is not a number")
    kind = str(raw["kind"])
    if kind not in ("declared", "amended", "invalidated"):
        raise ValueError(f"unknown kind {kind!r}")
    declared_at = _ts(raw["declared_at"])
    return FeedMessage(
        message_id=str(raw["message_id"]),
        position=int(raw["position"]),
        kind=kind,
        declaration_no=str(raw["declaration_no"]),
        license_no=str(raw["license_no"]),
        declared_at=declared_at,
        occurred_at=_ts(raw.get("occurred_at") or raw["declared_at"]),
        port=str(raw.get("port", "")),
        lines=lines,
        quantity=quantity,
    )


@dataclass
class PageWrites:
    """Events and history of a page, written once at the end of the page's transaction (fewer
    round trips; order kept)."""

    events: list[tuple[str, Envelope]] = field(default_factory=list)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    # the page's licenses, locked at the start of the page; balances kept current as entries go in
    licenses: dict[str, dict[str, Any]] = field(default_factory=dict)

    def booked(self, lic: dict[str, Any], ledger: Ledger) -> None:
        lic.update(
            used_quantity=ledger.used_quantity, uses=ledger.uses, ledger_entries=lic["ledger_entries"] + 1
        )

    def emit(self, lic: dict[str, Any], event: Event) -> None:
        env = envelope_for(event, aggregate_id=lic["application_id"], tenant=lic["enterprise_code"])
        self.events.append((topics.CUSTOMS, env))

    def note(
        self, lic: dict[str, Any], *, occurred_at: datetime, kind: str, summary: str, data: dict[str, Any]
    ) -> None:
        self.history.append(
            (
                lic["application_id"],
                lic["enterprise_code"],
                lic["license_no"],
                occurred_at,
                kind,
                summary,
                data,
            )
        )

    async def flush(self, conn: asyncpg.Connection) -> None:
        await write_events(conn, schema=SCHEMA, items=self.events)
        await CustomsRepository(conn).add_history_many(self.history)
        self.events.clear()
        self.history.clear()


async def apply_message(conn: asyncpg.Connection, msg: FeedMessage, out: PageWrites) -> tuple[str, str]:
    """Apply one feed message inside the caller's transaction; return (outcome, detail). The
    caller has made sure this message id was not applied before, and flushes ``out``."""
    repo = CustomsRepository(conn)
    lic = out.licenses.get(msg.license_no)
    if lic is None:
        log.warning("clearance_unknown_license", message_id=msg.message_id, license_no=msg.license_no)
        return "unknown_license", f"no license {msg.license_no}"
    if msg.kind == "declared":
        return await _use(repo, lic, msg, out, new=True)
    return await _reverse(repo, lic, msg, out)


async def _use(
    repo: CustomsRepository, lic: dict[str, Any], msg: FeedMessage, out: PageWrites, *, new: bool
) -> tuple[str, str]:
    ledger = ledger_from(lic)
    on = msg.declared_at.astimezone(CHINA).date()
    entry = ledger.record_use(msg.declaration_no, msg.quantity, msg.declared_at, on)
    accepted = entry.kind is EntryKind.USE
    state = "recorded" if accepted else "refused"
    lines = [line.model_dump(mode="json") for line in msg.lines]
    if new:
        saved = await repo.record_new_declaration(
            lic, ledger, entry, message_id=msg.message_id, port=msg.port, lines=lines, state=state
        )
        if not saved:
            return "ignored", f"declaration {msg.declaration_no} was already reported"
    else:  # the next revision of an amended declaration
        await repo.save_declaration(
            declaration_no=msg.declaration_no,
            license_no=lic["license_no"],
            enterprise_code=lic["enterprise_code"],
            declared_at=msg.declared_at,
            port=msg.port,
            quantity=msg.quantity,
            lines=lines,
            state=state,
            refusal_reason=entry.reason,
            new=False,
        )
        await repo.append_entry(lic, ledger, entry, msg.message_id)
    out.booked(lic, ledger)
    if accepted:
        out.emit(
            lic,
            ClearanceRecorded(
                application_id=lic["application_id"],
                license_no=lic["license_no"],
                declaration_no=msg.declaration_no,
                declared_at=msg.declared_at,
                port=msg.port,
                quantity=msg.quantity,
                lines=list(msg.lines),
            ),
        )
        summary = (
            f"declaration {msg.declaration_no} at {msg.port} used {msg.quantity} {lic['unit']}: remaining"
            f" {ledger.remaining_quantity}, {ledger.remaining_uses} use(s) left"
            + (f" ({entry.detail})" if entry.detail else "")
        )
    else:
        out.emit(
            lic,
            ClearanceRefused(
                application_id=lic["application_id"],
                license_no=lic["license_no"],
                declaration_no=msg.declaration_no,
                declared_at=msg.declared_at,
                quantity=msg.quantity,
                reason=entry.reason,
                detail=entry.detail,
            ),
        )
        summary = (
            f"declaration {msg.declaration_no} of {msg.quantity} refused: {entry.reason} ({entry.detail})"
        )
    out.note(
        lic,
        occurred_at=msg.declared_at,
        kind="clearance_recorded" if accepted else "clearance_refused",
        summary=summary,
        data={
            "declaration_no": msg.declaration_no,
            "port": msg.port,
            "quantity": msg.quantity,
            "reason": entry.reason,
        },
    )
    return ("applied", "") if accepted else ("refused", entry.reason)


async def _reverse(
    repo: CustomsRepository, lic: dict[str, Any], msg: FeedMessage, out: PageWrites
) -> tuple[str, str]:
    decl = await repo.declaration_for_update(msg.declaration_no)
    if decl is None or decl["license_no"] != lic["license_no"] or decl["state"] != "recorded":
        # Nothing was deducted for it (unknown, refused, or already reversed): nothing to give back.
        return "ignored", "no recorded use of this declaration to give back"
    ledger = ledger_from(lic)
    kind = "amended" if msg.kind == "amended" else "invalidated"
    entry = ledger.reverse(msg.declaration_no, decl["quantity"], kind, msg.occurred_at)
    await repo.append_entry(lic, ledger, entry, msg.message_id)
    out.booked(lic, ledger)
    await repo.set_declaration_state(msg.declaration_no, kind)
    out.emit(
        lic,
        ClearanceReversed(
            application_id=lic["application_id"],
            license_no=lic["license_no"],
            declaration_no=msg.declaration_no,
            kind=kind,
            quantity=decl["quantity"],
            reversed_at=msg.occurred_at,
        ),
    )
    out.note(
        lic,
        occurred_at=msg.occurred_at,
        kind="clearance_reversed",
        summary=f"declaration {msg.declaration_no} {kind}: {decl['quantity']} and one use given back;"
        f" remaining {ledger.remaining_quantity}, {ledger.remaining_uses} use(s) left",
        data={"declaration_no": msg.declaration_no, "kind": kind, "quantity": decl["quantity"]},
    )
    if kind == "amended" and msg.lines:
        # The amended declaration stands again with its new goods lines: a new use, checked anew.
        outcome, detail = await _use(repo, lic, msg, out, new=False)
        return ("reversed_and_" + outcome), detail
    return "reversed", ""


def _key(row: asyncpg.Record | None) -> tuple[str, int] | None:
    return (row["epoch"], row["position"]) if row is not None else None


async def apply_page(conn: asyncpg.Connection, raw_messages: list[dict[str, Any]]) -> int:
    """Apply a page of feed messages in the caller's transaction; return the last position.

    Dedup: message ids already applied (earlier pages, or earlier in this page) are skipped. A
    message that does not make sense is set aside as ``malformed`` with the reason instead of
    blocking the feed behind it. Every message id is recorded with its outcome."""
    ids = [str(m.get("message_id")) for m in raw_messages]
    seen = {
        r["message_id"]
        for r in await conn.fetch(
            f"SELECT message_id FROM {SCHEMA}.clearance_messages WHERE message_id = ANY($1::text[])", ids
        )
    }
    records: list[tuple[str, str, str | None, str, str]] = []
    out = PageWrites()
    out.licenses = await CustomsRepository(conn).licenses_for_update(
        sorted({str(m["license_no"]) for m in raw_messages if m.get("license_no")})
    )
    last = 0
    for raw in raw_messages:
        last = max(last, int(raw.get("position", 0)))
        message_id = str(raw.get("message_id") or f"position-{raw.get('position')}")
        if message_id in seen:
            continue
        seen.add(message_id)
        try:
            msg = parse_message(raw)
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            log.error("clearance_message_malformed", message_id=message_id, error=repr(exc))
            outcome, detail = "malformed", repr(exc)[:500]
        else:
            outcome, detail = await apply_message(conn, msg, out)
        records.append((message_id, str(raw.get("kind", "")), raw.get("license_no"), outcome, detail))
    await out.flush(conn)
    await conn.executemany(
        f"INSERT INTO {SCHEMA}.clearance_messages (message_id, kind, license_no, outcome, detail)"
        " VALUES ($1, $2, $3, $4, $5)",
        records,
    )
    return last


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
            if page.messages:
                position = max(position, await apply_page(conn, page.messages))
            await CustomsRepository(conn).set_cursor(FEED, page.epoch, position)
        self.applied += len(page.messages)
        return len(page.messages)
