"""The customs service's aggregates. Pure: they decide and record events; no I/O, no clock (the
caller passes ``now``).

* :class:`CustomsApplication`: what the customs service knows of an application (for the customs
  status query). Its status follows ``ail_shared.lifecycle``: a late or repeated event never moves
  it backwards (``moves_forward``).
* :class:`License`: an issued license, its delivery to Customs and its usage ledger
  (:mod:`ail_customs.domain.ledger` decides each use). It records ``CustomsStored``,
  ``ClearanceRecorded``, ``ClearanceRefused`` and ``ClearanceReversed``; the unit of work writes
  them to the outbox with the license's new state. It also holds the license's own state
  (``ail_shared.licenses``: valid, used up, surrendered, cancelled, expired) and records each
  transition (``LicenseUsedUp``, ``LicenseReopened``, ``LicenseSurrendered``, ``LicenseCancelled``,
  ``LicenseExpired``)
  and the cancellation's delivery to Customs (``CustomsCancellationStored``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from ail_customs.domain.delivery import DeliveryOutcome, ResendPolicy
from ail_customs.domain.ledger import EntryKind, Ledger, LedgerEntry
from ail_customs.domain.tolerance import tolerance_for
from ail_shared.calendar import china_date
from ail_shared.errors import Conflict
from ail_shared.events import (
    ClearanceLine,
    ClearanceRecorded,
    ClearanceRefused,
    ClearanceReversed,
    CustomsCancellationStored,
    CustomsStored,
    Event,
    LicenseCancelled,
    LicenseExpired,
    LicenseIssued,
    LicenseReopened,
    LicenseSurrendered,
    LicenseUsedUp,
)
from ail_shared.licenses import (
    CancelReason,
    LicenseState,
    ReplacementAllowance,
    may_become,
    replacement_allowance,
    surrender_refusal,
)
from ail_shared.licenses import (
    Refusal as LicenseRefusal,
)
from ail_shared.lifecycle import ApplicationStatus, moves_forward
from ail_shared.vocabulary import CustomsStatus


@dataclass
class CustomsApplication:
    application_id: str
    enterprise_code: str
    status: ApplicationStatus | str | None = None  # None: not stored yet
    serial_no: str | None = None
    year: int | None = None
    form_no: str | None = None
    license_no: str | None = None
    commodity_code: str | None = None
    commodity_name: str = ""
    applied_at: datetime | None = None

    def learn(
        self,
        status: ApplicationStatus,
        *,
        serial_no: str | None = None,
        year: int | None = None,
        form_no: str | None = None,
        license_no: str | None = None,
        commodity_code: str | None = None,
        commodity_name: str = "",
        applied_at: datetime | None = None,
    ) -> bool:
        """Take what an event tells; returns whether the status moved. Known facts are kept when
        the event does not carry them; the application date is the first one heard."""
        self.serial_no = serial_no or self.serial_no
        self.year = year or self.year
        self.form_no = form_no or self.form_no
        self.license_no = license_no or self.license_no
        self.commodity_code = commodity_code or self.commodity_code
        self.commodity_name = commodity_name or self.commodity_name
        self.applied_at = self.applied_at or applied_at
        if self.status is None or moves_forward(self.status, status):
            self.status = status
            return True
        return False


@dataclass
class License:
    license_no: str
    application_id: str
    enterprise_code: str
    form_no: str
    commodity_code: str
    commodity_name: str
    unit: str
    quantity: Decimal
    one_batch_one_license: bool
    issued_at: datetime
    valid_until: date
    tolerance_pct: Decimal
    tolerance_source: str  # catalogue | hs_prefix_table
    customs_status: str | None = None  # None (not sent yet) | CustomsStatus
    delivery_rounds: int = 0
    failed_rounds: int = 0
    next_delivery_at: datetime | None = None
    last_delivery_detail: str = ""
    used_quantity: Decimal = Decimal(0)
    uses: int = 0
    ledger_entries: int = 0
    # the license's own state (ail_shared.licenses) and why; unused_quantity once final
    state: str = LicenseState.VALID
    state_reason: str = ""
    state_detail: str = ""
    state_changed_at: datetime | None = None
    unused_quantity: Decimal | None = None
    replaces_license_no: str | None = None
    replaced_by: str | None = None
    max_uses: int | None = None  # a replacement: the old license's remaining uses
    # a change/extension asked for and not issued yet: the draft's application id
    reissue_application_id: str | None = None
    # the cancellation's delivery to Customs: None | pending | not_arrived | stored | send_failed
    cancellation_status: str | None = None
    cancellation_rounds: int = 0
    next_cancellation_at: datetime | None = None
    events: list[Event] = field(default_factory=list, repr=False, compare=False)
    # The W3C trace context of the transaction that stored it (the approval's trace): the
    # delivery to Customs, later and in a worker, continues it (ail_shared.telemetry).
    trace_context: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def aggregate_id(self) -> str:
        return self.application_id

    @property
    def tenant(self) -> str:
        return self.enterprise_code

    @classmethod
    def issued(cls, event: LicenseIssued) -> License:
        """The license ``LicenseIssued`` announces. Its expiry is the event's ``valid_until`` (what
        the applicant saw), never computed again; its overflow tolerance is the catalogue's when
        the event carries it, else the HS-prefix table's (events of schema 1.0)."""
        tolerance, source = tolerance_for(event.commodity_code, event.overflow_tolerance_pct)
        return cls(
            license_no=event.license_no,
            application_id=event.application_id,
            enterprise_code=event.enterprise_code,
            form_no=event.form_no,
            commodity_code=event.commodity_code,
            commodity_name=event.commodity_name,
            unit=event.unit,
            quantity=event.quantity,
            one_batch_one_license=event.one_batch_one_license,
            issued_at=event.issued_at,
            valid_until=event.valid_until,
            tolerance_pct=tolerance,
            tolerance_source=source,
            replaces_license_no=event.replaces_license_no,
            max_uses=event.max_uses,
        )

    # ------------------------------------------------------------------ the ledger

    @property
    def ledger(self) -> Ledger:
        """The usage ledger at the current balances (a fresh object: book what it records)."""
        return Ledger(
            license_no=self.license_no,
            licensed_quantity=self.quantity,
            one_batch_one_license=self.one_batch_one_license,
            valid_until=self.valid_until,
            tolerance_pct=self.tolerance_pct,
            issued_on=china_date(self.issued_at),
            used_quantity=self.used_quantity,
            uses=self.uses,
            uses_limit=self.max_uses,
            closed_at=self.state_changed_at if self.state in _CLOSING else None,
            closed_as=self.state,
        )

    def _book(self, ledger: Ledger) -> None:
        self.used_quantity, self.uses = ledger.used_quantity, ledger.uses
        self.ledger_entries += 1

    # ------------------------------------------------------------------ the license's state

    @property
    def remaining_quantity(self) -> Decimal:
        return max(self.quantity - self.used_quantity, Decimal(0))

    def _become(self, state: LicenseState, at: datetime, *, reason: str = "", detail: str = "") -> bool:
        if not may_become(self.state, state):
            return False  # already final: a repeated or late request changes nothing
        self.state, self.state_reason, self.state_detail = state, reason, detail
        self.state_changed_at = at
        self.unused_quantity = self.remaining_quantity
        if state in _CLOSING:
            # Customs must hear of it: the delivery worker sends the cancellation.
            self.cancellation_status = "pending"
            self.next_cancellation_at = at
        return True

    def _after_use(self, at: datetime) -> None:
        if self.state == LicenseState.VALID and self.ledger.closed:
            self._become(LicenseState.USED_UP, at)
            self.events.append(
                LicenseUsedUp(
                    application_id=self.application_id,
                    license_no=self.license_no,
                    used_quantity=self.used_quantity,
                    uses=self.uses,
                    used_up_at=at,
                )
            )

    def surrender(self, reason: str, *, by: str, now: datetime) -> None:
        """Hand the license back (交回): only an unused valid one (else ``LicenseRefused``)."""
        if self.state == LicenseState.SURRENDERED:
            return  # asked again: it is surrendered already
        refusal = surrender_refusal(
            self.state, uses=self.uses, valid_until=self.valid_until, on=china_date(now)
        )
        if refusal is not None:
            raise LicenseRefused(refusal)
        self._become(LicenseState.SURRENDERED, now, reason=reason)
        self.events.append(
            LicenseSurrendered(
                application_id=self.application_id,
                license_no=self.license_no,
                reason=reason,
                surrendered_by=by,
                surrendered_at=now,
                unused_quantity=self.unused_quantity or Decimal(0),
            )
        )

    def cancel(
        self, reason: CancelReason, at: datetime, *, detail: str = "", replaced_by: str | None = None
    ) -> bool:
        """Cancel a valid license (replaced by ``replaced_by``, or by MOFCOM). False when it was
        final already (a duplicate, or MOFCOM cancelling a license that lapsed meanwhile)."""
        if not self._become(LicenseState.CANCELLED, at, reason=reason.value, detail=detail):
            return False
        self.replaced_by = replaced_by
        self.reissue_application_id = None
        self.events.append(
            LicenseCancelled(
                application_id=self.application_id,
                license_no=self.license_no,
                reason=reason.value,
                detail=detail,
                replaced_by=replaced_by,
                cancelled_at=at,
                unused_quantity=self.unused_quantity or Decimal(0),
            )
        )
        return True

    def expire(self, now: datetime) -> bool:
        """Lapse a valid license whose last day (China date) has passed; False otherwise."""
        if china_date(now) <= self.valid_until or not self._become(LicenseState.EXPIRED, now):
            return False
        self.events.append(
            LicenseExpired(
                application_id=self.application_id,
                license_no=self.license_no,
                valid_until=self.valid_until,
                unused_quantity=self.unused_quantity or Decimal(0),
                expired_at=now,
            )
        )
        return True

    def replacement(self, now: datetime) -> ReplacementAllowance | LicenseRefusal:
        """What a change or extension of this license may cover now (``replacement_allowance``)."""
        return replacement_allowance(
            self.state,
            licensed_quantity=self.quantity,
            used_quantity=self.used_quantity,
            uses=self.uses,
            license_max_uses=self.ledger.max_uses,
            valid_until=self.valid_until,
            on=china_date(now),
        )

    def record_cancellation(self, stored: bool, *, detail: str, now: datetime, policy: ResendPolicy) -> None:
        """The outcome of a cancellation round at Customs (re-sent by the policy until stored;
        after the automatic rounds, every ``policy``'s last delay)."""
        self.cancellation_status = "stored" if stored else "send_failed"
        if stored:
            self.next_cancellation_at = None
        else:
            # A cancellation is never given up: Customs must not go on accepting the license.
            delay = (
                policy.delay_after(min(self.cancellation_rounds, policy.max_rounds - 1))
                or policy.base_seconds
            )
            self.next_cancellation_at = now + timedelta(seconds=delay)
        self.events.append(
            CustomsCancellationStored(
                application_id=self.application_id,
                license_no=self.license_no,
                result="stored" if stored else "send_failed",
                detail=detail,
            )
        )

    def declare(
        self,
        declaration_no: str,
        quantity: Decimal,
        declared_at: datetime,
        *,
        port: str = "",
        lines: tuple[ClearanceLine, ...] = (),
    ) -> LedgerEntry:
        """A customs declaration that uses the license, on its date in China: a ``use`` entry
        (``ClearanceRecorded``) or a ``refused`` one with the reason (``ClearanceRefused``)."""
        ledger = self.ledger
        entry = ledger.record_use(declaration_no, quantity, declared_at, china_date(declared_at))
        self._book(ledger)
        if entry.kind is EntryKind.USE:
            self.events.append(
                ClearanceRecorded(
                    application_id=self.application_id,
                    license_no=self.license_no,
                    declaration_no=declaration_no,
                    declared_at=declared_at,
                    port=port,
                    quantity=quantity,
                    lines=list(lines),
                )
            )
            self._after_use(declared_at)
        else:
            self.events.append(
                ClearanceRefused(
                    application_id=self.application_id,
                    license_no=self.license_no,
                    declaration_no=declaration_no,
                    declared_at=declared_at,
                    quantity=quantity,
                    reason=entry.reason,
                    detail=entry.detail,
                )
            )
        return entry

    def reverse(self, declaration_no: str, quantity: Decimal, kind: str, at: datetime) -> LedgerEntry:
        """Give back a recorded use (``amended`` or ``invalidated``): a compensating entry."""
        if kind not in ("amended", "invalidated"):
            raise ValueError(f"a reversal is amended or invalidated, not {kind!r}")
        ledger = self.ledger
        entry = ledger.reverse(declaration_no, quantity, kind, at)
        self._book(ledger)
        if self.state == LicenseState.USED_UP and not ledger.closed:
            # A use given back reopens a license that was used up only by its balance: it is a
            # state the ledger computes (surrendered, cancelled, expired stay final).
            self.state, self.state_changed_at, self.unused_quantity = LicenseState.VALID, at, None
            reopened = True
        else:
            reopened = False
        self.events.append(
            ClearanceReversed(
                application_id=self.application_id,
                license_no=self.license_no,
                declaration_no=declaration_no,
                kind="amended" if kind == "amended" else "invalidated",
                quantity=quantity,
                reversed_at=at,
            )
        )
        if reopened:
            # After the reversal: whoever keeps the license's state (the application, the status
            # view) hears it is valid again, in the order it happened.
            self.events.append(
                LicenseReopened(
                    application_id=self.application_id,
                    license_no=self.license_no,
                    declaration_no=declaration_no,
                    used_quantity=self.used_quantity,
                    uses=self.uses,
                    reopened_at=at,
                )
            )
        return entry

    # ------------------------------------------------------------------ delivery to Customs

    def record_delivery(self, outcome: DeliveryOutcome, *, now: datetime, policy: ResendPolicy) -> None:
        """The outcome of delivery round ``delivery_rounds``: the customs status, the automatic
        re-send after a failed round (``policy``; none once stored or when the rounds ran out),
        and ``CustomsStored``."""
        stored = outcome.result == "stored"
        self.failed_rounds = 0 if stored else self.failed_rounds + 1
        delay = None if stored else policy.delay_after(self.failed_rounds)
        self.next_delivery_at = now + timedelta(seconds=delay) if delay is not None else None
        self.customs_status = outcome.result
        self.last_delivery_detail = outcome.detail
        self.events.append(
            CustomsStored(
                application_id=self.application_id,
                license_no=self.license_no,
                result=outcome.result,
                detail=outcome.detail,
                attempt=self.delivery_rounds,
            )
        )

    def request_resend(self, now: datetime) -> bool:
        """The operator's re-send: due now (True), or False when it is already due or in flight.
        A license Customs stored is not sent again (409)."""
        if self.customs_status == CustomsStatus.STORED:
            raise Conflict(
                f"license {self.license_no} is already stored at Customs; there is nothing to re-send"
            )
        if self.customs_status in (None, CustomsStatus.NOT_ARRIVED) or (
            self.next_delivery_at is not None and self.next_delivery_at <= now
        ):
            return False
        self.next_delivery_at = now
        self.failed_rounds = 0
        return True

    def close_delivery(self, reason: str) -> None:
        """Operations give up on delivering it (after send_failed or store_failed): no more
        automatic re-sends; ``CustomsStored`` with the status it keeps and the reason, so the
        application's history shows it. Only a failed delivery that is not in flight closes (409)."""
        if self.customs_status not in (CustomsStatus.SEND_FAILED, CustomsStatus.STORE_FAILED):
            raise Conflict(
                f"license {self.license_no} is {self.customs_status or 'not sent yet'}: only a failed"
                " delivery (send_failed, store_failed) can be closed; wait for the round to end"
            )
        self.next_delivery_at = None
        self.events.append(
            CustomsStored(
                application_id=self.application_id,
                license_no=self.license_no,
                result=self.customs_status,
                detail=f"delivery closed by operations: {reason}",
                attempt=self.delivery_rounds,
            )
        )


_CLOSING = (LicenseState.SURRENDERED, LicenseState.CANCELLED)


class LicenseRefused(Conflict):
    """A license-state rule said no (409, its code: ``license_used``, ``license_not_valid`` ...)."""

    def __init__(self, refusal: LicenseRefusal) -> None:
        super().__init__(refusal.message)
        self.code = refusal.code


@dataclass(frozen=True)
class Declaration:
    """A declaration Customs reported against a license; ``state`` follows the ledger:
    recorded | refused | amended | invalidated."""

    declaration_no: str
    license_no: str
    enterprise_code: str
    declared_at: datetime
    quantity: Decimal
    state: str
    port: str = ""
    lines: tuple[ClearanceLine, ...] = ()
    refusal_reason: str = ""


@dataclass(frozen=True)
class HistoryEntry:
    """One line of an application's history (历史数据查询)."""

    application_id: str
    enterprise_code: str
    license_no: str | None
    occurred_at: datetime
    kind: str
    summary: str
    data: dict[str, object] = field(default_factory=dict)
