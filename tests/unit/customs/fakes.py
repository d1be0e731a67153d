"""In-memory fakes of the customs service's unit of work, repositories and Customs system (the
Protocols of ``adapters/repository.py``, ``service_layer/unit_of_work.py`` and
``adapters/customs_client.py``): no database, no Kafka, no HTTP."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from ail_customs.adapters.customs_client import FeedPage
from ail_customs.domain.delivery import DeliveryOutcome
from ail_customs.domain.feed import FeedCursor, MessageOutcome
from ail_customs.domain.ledger import LedgerEntry
from ail_customs.domain.model import CustomsApplication, Declaration, HistoryEntry, License
from ail_shared.calendar import china_date
from ail_shared.errors import NotFound
from ail_shared.events import Event
from ail_shared.unit_of_work import Aggregate


class FakeApplications:
    def __init__(self) -> None:
        self.rows: dict[str, CustomsApplication] = {}

    async def get(self, *, application_id: str) -> CustomsApplication | None:
        app = self.rows.get(application_id)
        return copy.copy(app) if app is not None else None

    async def save(self, app: CustomsApplication) -> None:
        assert app.status is not None
        self.rows[app.application_id] = copy.copy(app)


class FakeLicenses:
    def __init__(self) -> None:
        self.rows: dict[str, License] = {}
        self.entries: dict[str, list[tuple[int, LedgerEntry, str]]] = {}
        self.declarations: FakeDeclarations | None = None  # the same store as the unit of work's

    @staticmethod
    def _copy(lic: License) -> License:
        return replace(lic, events=[])

    async def add(self, lic: License) -> bool:
        if lic.license_no in self.rows:
            return False
        # A replacement waits for the old license's cancellation at Customs (as the SQL does).
        due = None if lic.replaces_license_no else datetime.now(UTC)
        self.rows[lic.license_no] = replace(lic, events=[], next_delivery_at=due)
        return True

    async def save_state(self, lic: License) -> None:
        row = self.rows[lic.license_no]
        for name in (
            "state",
            "state_reason",
            "state_detail",
            "state_changed_at",
            "unused_quantity",
            "replaced_by",
            "reissue_application_id",
            "cancellation_status",
            "next_cancellation_at",
            "quantity",
            "max_uses",
        ):
            setattr(row, name, getattr(lic, name))
        if lic.state in ("surrendered", "cancelled"):
            row.next_delivery_at = None

    async def claim_due_cancellations(self, *, limit: int, lease_seconds: float) -> list[License]:
        now = datetime.now(UTC)
        due = sorted(
            (
                lic
                for lic in self.rows.values()
                if lic.next_cancellation_at is not None and lic.next_cancellation_at <= now
            ),
            key=lambda lic: lic.next_cancellation_at or now,
        )[:limit]
        for lic in due:
            lic.cancellation_status = "not_arrived"
            lic.cancellation_rounds += 1
            lic.next_cancellation_at = now + timedelta(seconds=lease_seconds)
        return [self._copy(lic) for lic in due]

    async def release_replacement(self, *, replaces_license_no: str) -> bool:
        released = False
        for row in self.rows.values():
            if (
                row.replaces_license_no == replaces_license_no
                and row.customs_status is None
                and row.next_delivery_at is None
            ):
                row.next_delivery_at = datetime.now(UTC)
                released = True
        return released

    async def lock_expired(self, *, limit: int) -> list[License]:
        today = china_date(datetime.now(UTC))
        due = sorted(
            (lic for lic in self.rows.values() if lic.state == "valid" and lic.valid_until < today),
            key=lambda lic: (lic.valid_until, lic.license_no),
        )[:limit]
        return [self._copy(lic) for lic in due]

    async def get(self, *, license_no: str, for_update: bool = False) -> License | None:
        lic = self.rows.get(license_no)
        return self._copy(lic) if lic is not None else None

    async def of_tenant(
        self, *, license_no: str, enterprise_codes: Sequence[str], for_update: bool = False
    ) -> License:
        lic = self.rows.get(license_no)
        if lic is None or lic.enterprise_code not in enterprise_codes:
            raise NotFound(f"license {license_no} not found")
        return self._copy(lic)

    async def lock_many(self, *, license_nos: Iterable[str]) -> dict[str, License]:
        return {no: self._copy(self.rows[no]) for no in sorted(set(license_nos)) if no in self.rows}

    async def claim_due(self, *, limit: int, lease_seconds: float) -> list[License]:
        now = datetime.now(UTC)
        due = sorted(
            (
                lic
                for lic in self.rows.values()
                if lic.next_delivery_at is not None and lic.next_delivery_at <= now
            ),
            key=lambda lic: lic.next_delivery_at or now,
        )[:limit]
        for lic in due:
            lic.customs_status = "not_arrived"
            lic.delivery_rounds += 1
            lic.next_delivery_at = now + timedelta(seconds=lease_seconds)
        return [self._copy(lic) for lic in due]

    async def save_delivery(self, lic: License) -> None:
        row = self.rows[lic.license_no]
        row.customs_status = lic.customs_status
        row.failed_rounds = lic.failed_rounds
        row.next_delivery_at = lic.next_delivery_at
        row.last_delivery_detail = lic.last_delivery_detail

    def _balances(self, lic: License) -> None:
        row = self.rows[lic.license_no]
        row.used_quantity, row.uses, row.ledger_entries = lic.used_quantity, lic.uses, lic.ledger_entries

    async def append_entry(self, *, lic: License, entry: LedgerEntry, message_id: str) -> None:
        entries = self.entries.setdefault(lic.license_no, [])
        assert lic.ledger_entries == len(entries) + 1, "entry numbers follow each other"
        entries.append((lic.ledger_entries, entry, message_id))
        self._balances(lic)

    async def record_new_declaration(
        self, *, lic: License, entry: LedgerEntry, declaration: Declaration, message_id: str
    ) -> bool:
        assert self.declarations is not None
        if declaration.declaration_no in self.declarations.rows:
            return False
        self.declarations.rows[declaration.declaration_no] = declaration
        await self.append_entry(lic=lic, entry=entry, message_id=message_id)
        return True


class FakeDeclarations:
    def __init__(self) -> None:
        self.rows: dict[str, Declaration] = {}
        self.revisions: dict[str, int] = {}

    async def existing(self, *, declaration_nos: Iterable[str]) -> set[str]:
        return set(declaration_nos) & set(self.rows)

    async def get(self, *, declaration_no: str, for_update: bool = False) -> Declaration | None:
        return self.rows.get(declaration_no)

    async def save_revision(self, declaration: Declaration) -> None:
        self.rows[declaration.declaration_no] = declaration
        self.revisions[declaration.declaration_no] = self.revisions.get(declaration.declaration_no, 1) + 1

    async def set_state(self, *, declaration_no: str, state: str) -> None:
        self.rows[declaration_no] = replace(self.rows[declaration_no], state=state)


class FakeFeed:
    def __init__(self) -> None:
        self.cursors: dict[str, FeedCursor] = {}
        self.outcomes: dict[str, MessageOutcome] = {}

    async def cursor(self, *, feed: str, for_update: bool = False) -> FeedCursor | None:
        return self.cursors.get(feed)

    async def set_cursor(self, *, feed: str, cursor: FeedCursor) -> None:
        self.cursors[feed] = cursor

    async def seen(self, *, message_ids: Iterable[str]) -> set[str]:
        return set(message_ids) & set(self.outcomes)

    async def record(self, *, outcomes: Sequence[MessageOutcome]) -> None:
        for o in outcomes:
            assert o.message_id not in self.outcomes, f"message {o.message_id} recorded twice"
            self.outcomes[o.message_id] = o


class FakeHistory:
    def __init__(self) -> None:
        self.entries: list[HistoryEntry] = []

    async def add(self, entry: HistoryEntry) -> None:
        self.entries.append(entry)

    async def add_many(self, entries: Sequence[HistoryEntry]) -> None:
        self.entries.extend(entries)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.entries]


class FakeOpsActions:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []  # (license no., action, reason, actor)

    async def record(self, *, license_no: str, action: str, reason: str, actor: str) -> None:
        self.rows.append((license_no, action, reason, actor))


class FakeUnitOfWork:
    """The unit of work over in-memory stores. What a clean exit commits: the tracked aggregates'
    events (``events``) and ``committed``; an exception commits nothing (the stores are restored)."""

    def __init__(self) -> None:
        self.applications = FakeApplications()
        self.licenses = FakeLicenses()
        self.declarations = FakeDeclarations()
        self.licenses.declarations = self.declarations
        self.feed = FakeFeed()
        self.history = FakeHistory()
        self.ops_actions = FakeOpsActions()
        self.events: list[tuple[str, Event]] = []  # (aggregate id, event), in outbox order
        self.committed = 0
        self.rolled_back = 0
        self.wakes = 0  # license_due() calls that committed
        self._tracked: list[Aggregate] = []
        self._due = False
        self._snapshot: dict[str, Any] | None = None

    def _stores(self) -> dict[str, Any]:
        return {
            "applications": self.applications.rows,
            "licenses": self.licenses.rows,
            "entries": self.licenses.entries,
            "declarations": self.declarations.rows,
            "cursors": self.feed.cursors,
            "outcomes": self.feed.outcomes,
            "history": self.history.entries,
            "ops_actions": self.ops_actions.rows,
        }

    def track(self, aggregate: Aggregate) -> None:
        if not any(a is aggregate for a in self._tracked):
            self._tracked.append(aggregate)

    def license_due(self) -> None:
        self._due = True

    async def __aenter__(self) -> Self:
        self._tracked, self._due = [], False
        self._snapshot = copy.deepcopy(self._stores())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            assert self._snapshot is not None
            for name, saved in self._snapshot.items():
                live = self._stores()[name]
                live.clear()
                if isinstance(live, dict):
                    live.update(saved)
                else:
                    live.extend(saved)
            self.rolled_back += 1
            return
        for aggregate in self._tracked:
            while aggregate.events:
                self.events.append((aggregate.aggregate_id, aggregate.events.pop(0)))
        self.committed += 1
        if self._due:
            self.wakes += 1

    def event_types(self) -> list[str]:
        return [type(e).__name__ for _, e in self.events]


class FakeCustoms:
    """Customs: answers deliveries with the given outcomes (default stored) and serves a feed."""

    def __init__(self, *outcomes: DeliveryOutcome, epoch: str = "e1") -> None:
        self.outcomes = list(outcomes)
        self.delivered: list[dict[str, Any]] = []
        self.epoch = epoch
        self.messages: list[dict[str, Any]] = []
        self.reads: list[tuple[int, int]] = []
        self.closed = False
        self.cancelled: list[dict[str, Any]] = []
        self.cancel_answers: list[tuple[bool, str]] = []
        self.order: list[tuple[str, str]] = []  # what Customs took in, in order

    async def cancel(self, cancellation: dict[str, Any]) -> tuple[bool, str]:
        self.cancelled.append(cancellation)
        self.order.append(("cancelled", str(cancellation["license_no"])))
        return self.cancel_answers.pop(0) if self.cancel_answers else (True, "")

    async def deliver(self, license: dict[str, Any]) -> DeliveryOutcome:
        self.order.append(("delivered", str(license["license_no"])))
        self.delivered.append(license)
        return self.outcomes.pop(0) if self.outcomes else DeliveryOutcome("stored", "", 1, "R1")

    async def feed(self, *, after: int, limit: int) -> FeedPage:
        self.reads.append((after, limit))
        page = [m for m in self.messages if int(m["position"]) > after][:limit]
        return FeedPage(epoch=self.epoch, messages=page)

    async def aclose(self) -> None:
        self.closed = True
