"""Clearance data from Customs into the license ledger (used by ``handlers.apply_feed_page``).

Delivery choice: the customs service **polls** Customs' clearance feed with a cursor (not a
callback). Each page is applied in one transaction together with the new cursor position, and
every message is claimed by Customs' ``message_id`` first, so a message delivered twice (re-sent
by Customs, re-read after a crash or after Customs' feed starts over with a new ``epoch``) is
counted once. Ledger entries, the declaration, the ``ClearanceRecorded`` / ``ClearanceRefused`` /
``ClearanceReversed`` event (outbox, recorded by the ``License`` aggregate) and the history commit
together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ail_customs.domain.feed import FeedMessage, MessageOutcome, message_id_of, parse_message
from ail_customs.domain.ledger import EntryKind
from ail_customs.domain.model import Declaration, HistoryEntry, License
from ail_customs.service_layer.unit_of_work import UnitOfWork
from ail_shared.logging import get_logger

log = get_logger("ail.customs.clearance")


@dataclass
class Page:
    """What a page's messages share: its licenses (locked at the start, balances kept current),
    the declaration numbers known, and the history written once at the end (fewer round trips)."""

    licenses: dict[str, License]
    known_declarations: set[str]
    history: list[HistoryEntry] = field(default_factory=list)


async def apply_page(uow: UnitOfWork, raw_messages: list[dict[str, Any]]) -> int:
    """Apply a page of feed messages in the unit of work's transaction; return the last position.

    Dedup: message ids already applied (earlier pages, or earlier in this page) are skipped. A
    message that does not make sense is set aside as ``malformed`` with the reason instead of
    blocking the feed behind it. Every message id is recorded with its outcome."""
    seen = await uow.feed.seen(message_ids=[message_id_of(m) for m in raw_messages])
    page = Page(
        licenses=await uow.licenses.lock_many(
            license_nos={str(m["license_no"]) for m in raw_messages if m.get("license_no")}
        ),
        known_declarations=await uow.declarations.existing(
            declaration_nos={str(m["declaration_no"]) for m in raw_messages if m.get("declaration_no")}
        ),
    )
    outcomes: list[MessageOutcome] = []
    last = 0
    for raw in raw_messages:
        last = max(last, int(raw.get("position", 0)))
        message_id = message_id_of(raw)
        if message_id in seen:
            continue
        seen.add(message_id)
        try:
            msg = parse_message(raw)
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            log.error("clearance_message_malformed", message_id=message_id, error=repr(exc))
            outcome, detail = "malformed", repr(exc)[:500]
        else:
            outcome, detail = await apply_message(uow, msg, page)
        outcomes.append(
            MessageOutcome(message_id, str(raw.get("kind", "")), raw.get("license_no"), outcome, detail)
        )
    for lic in page.licenses.values():
        uow.track(lic)
    await uow.history.add_many(page.history)
    await uow.feed.record(outcomes=outcomes)
    return last


async def apply_message(uow: UnitOfWork, msg: FeedMessage, page: Page) -> tuple[str, str]:
    """Apply one feed message (not applied before); return (outcome, detail)."""
    lic = page.licenses.get(msg.license_no)
    if lic is None:
        log.warning("clearance_unknown_license", message_id=msg.message_id, license_no=msg.license_no)
        return "unknown_license", f"no license {msg.license_no}"
    if msg.kind == "declared":
        if msg.declaration_no in page.known_declarations:
            return "ignored", f"declaration {msg.declaration_no} was already reported"
        page.known_declarations.add(msg.declaration_no)
        return await _use(uow, lic, msg, page, new=True)
    return await _reverse(uow, lic, msg, page)


async def _use(uow: UnitOfWork, lic: License, msg: FeedMessage, page: Page, *, new: bool) -> tuple[str, str]:
    state = lic.state
    entry = lic.declare(msg.declaration_no, msg.quantity, msg.declared_at, port=msg.port, lines=msg.lines)
    accepted = entry.kind is EntryKind.USE
    declaration = Declaration(
        declaration_no=msg.declaration_no,
        license_no=lic.license_no,
        enterprise_code=lic.enterprise_code,
        declared_at=msg.declared_at,
        quantity=msg.quantity,
        state="recorded" if accepted else "refused",
        port=msg.port,
        lines=msg.lines,
        refusal_reason=entry.reason,
    )
    if new:
        saved = await uow.licenses.record_new_declaration(
            lic=lic, entry=entry, declaration=declaration, message_id=msg.message_id
        )
        if not saved:
            # The page checked the number first and holds the license's lock: only a concurrent
            # writer outside the feed could get here. Roll the page back; the next poll retries it.
            raise RuntimeError(f"declaration {msg.declaration_no} appeared while the page was applied")
    else:  # the next revision of an amended declaration
        await uow.declarations.save_revision(declaration)
        await uow.licenses.append_entry(lic=lic, entry=entry, message_id=msg.message_id)
    if lic.state != state:  # the last use: used up
        await uow.licenses.save_state(lic)
    ledger = lic.ledger
    if accepted:
        summary = (
            f"declaration {msg.declaration_no} at {msg.port} used {msg.quantity} {lic.unit}: remaining"
            f" {ledger.remaining_quantity}, {ledger.remaining_uses} use(s) left"
            + (f" ({entry.detail})" if entry.detail else "")
        )
    else:
        summary = (
            f"declaration {msg.declaration_no} of {msg.quantity} refused: {entry.reason} ({entry.detail})"
        )
    page.history.append(
        HistoryEntry(
            application_id=lic.application_id,
            enterprise_code=lic.enterprise_code,
            license_no=lic.license_no,
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
    )
    return ("applied", "") if accepted else ("refused", entry.reason)


async def _reverse(uow: UnitOfWork, lic: License, msg: FeedMessage, page: Page) -> tuple[str, str]:
    decl = await uow.declarations.get(declaration_no=msg.declaration_no, for_update=True)
    if decl is None or decl.license_no != lic.license_no or decl.state != "recorded":
        # Nothing was deducted for it (unknown, refused, or already reversed): nothing to give back.
        return "ignored", "no recorded use of this declaration to give back"
    kind = "amended" if msg.kind == "amended" else "invalidated"
    state = lic.state
    entry = lic.reverse(msg.declaration_no, decl.quantity, kind, msg.occurred_at)
    await uow.licenses.append_entry(lic=lic, entry=entry, message_id=msg.message_id)
    if lic.state != state:  # a use given back reopens a used-up license
        await uow.licenses.save_state(lic)
    await uow.declarations.set_state(declaration_no=msg.declaration_no, state=kind)
    ledger = lic.ledger
    page.history.append(
        HistoryEntry(
            application_id=lic.application_id,
            enterprise_code=lic.enterprise_code,
            license_no=lic.license_no,
            occurred_at=msg.occurred_at,
            kind="clearance_reversed",
            summary=f"declaration {msg.declaration_no} {kind}: {decl.quantity} and one use given back;"
            f" remaining {ledger.remaining_quantity}, {ledger.remaining_uses} use(s) left",
            data={"declaration_no": msg.declaration_no, "kind": kind, "quantity": decl.quantity},
        )
    )
    if kind == "amended" and msg.lines:
        # The amended declaration stands again with its new goods lines: a new use, checked anew.
        outcome, detail = await _use(uow, lic, msg, page, new=False)
        return ("reversed_and_" + outcome), detail
    return "reversed", ""
