"""The license usage ledger (DOMAIN 9). Pure: decides and records, never does I/O.

Each license has a ledger of append-only entries:

* ``use``      a customs declaration that used the license: deducts its quantity, counts one use;
* ``reversal`` a compensating entry for an amended or invalidated declaration: gives back the
               quantity of the use it reverses and the use itself;
* ``refused``  a declaration the ledger could not cover, with the reason; changes no balance.

Balances: ``used = sum(uses) - sum(reversals)``, ``remaining_quantity = licensed - used``,
``uses = count(uses) - count(reversals)``.

Rules for a use of quantity ``q`` on date ``d`` (first failing rule is the reason):

0. the license was not closed before the declaration (surrendered or cancelled at ``closed_at``;
   ``ail_shared.licenses``)                      else ``license_surrendered`` / ``license_cancelled``
1. ``q > 0``                                     else ``invalid_quantity``
2. ``d <= valid_until`` (and ``d >= issue date``) else ``license_expired`` / ``not_yet_valid``
3. ``uses < max_uses`` (1 for one batch one license, else 6; a replacement: the uses it took over)
                                                  else ``one_batch_already_used`` / ``uses_exhausted``
4. ``used < licensed`` (a license whose balance is used up is closed)
                                                  else ``quantity_exhausted``
5. ``used + q <= licensed * (1 + tolerance / 100)`` else ``exceeds_tolerance``

The overflow tolerance rule (our reading of "on the last use"): the last use of a license is the
use after which it cannot be used again - the last permitted use by count (the 6th, or the only
one of a one-batch license) *or* any use that takes the cumulative total to the licensed quantity
or beyond (the importer's final batch; the license is closed after it, rule 4). Only such a use may
go over the licensed quantity, and only as far as the tolerance: the **cumulative** net total may
reach ``licensed * (1 + tolerance)``, never more. So the remaining quantity is never below the
tolerance floor ``-licensed * tolerance / 100``. Arithmetic is Decimal throughout, exact, no
rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from ail_shared.licenses import MAX_USES

ONE_BATCH_MAX_USES = 1
HUNDRED = Decimal(100)


class EntryKind(StrEnum):
    USE = "use"
    REVERSAL = "reversal"
    REFUSED = "refused"


class Refusal(StrEnum):
    INVALID_QUANTITY = "invalid_quantity"
    LICENSE_EXPIRED = "license_expired"
    NOT_YET_VALID = "not_yet_valid"
    ONE_BATCH_ALREADY_USED = "one_batch_already_used"
    USES_EXHAUSTED = "uses_exhausted"
    QUANTITY_EXHAUSTED = "quantity_exhausted"
    EXCEEDS_TOLERANCE = "exceeds_tolerance"
    LICENSE_SURRENDERED = "license_surrendered"
    LICENSE_CANCELLED = "license_cancelled"


@dataclass(frozen=True)
class LedgerEntry:
    kind: EntryKind
    declaration_no: str
    quantity: Decimal  # always >= 0; a reversal's quantity is what it gives back
    occurred_at: datetime
    reason: str = ""  # refused: a Refusal code; reversal: amended | invalidated
    detail: str = ""
    # balances right after this entry (a refused entry repeats the balances before it)
    used_after: Decimal = Decimal(0)
    uses_after: int = 0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Refusal | None = None
    detail: str = ""
    last_use: bool = False  # accepting it closes the license (count or quantity)
    overflow: Decimal = Decimal(0)  # how far the cumulative total would exceed the licensed quantity


@dataclass
class Ledger:
    license_no: str
    licensed_quantity: Decimal
    one_batch_one_license: bool
    valid_until: date
    tolerance_pct: Decimal
    issued_on: date | None = None
    used_quantity: Decimal = Decimal(0)
    uses: int = 0
    new_entries: list[LedgerEntry] = field(default_factory=list)
    # A replacement license takes over only the old one's remaining uses (LicenseIssued.max_uses).
    uses_limit: int | None = None
    # Surrendered or cancelled (``closed_as``) at ``closed_at``: no use from that instant on.
    closed_at: datetime | None = None
    closed_as: str = ""

    # ------------------------------------------------------------------ balances

    @property
    def max_uses(self) -> int:
        if self.uses_limit is not None:
            return self.uses_limit
        return ONE_BATCH_MAX_USES if self.one_batch_one_license else MAX_USES

    @property
    def ceiling(self) -> Decimal:
        """The most the cumulative net total may ever reach (licensed + tolerance)."""
        return self.licensed_quantity + self.licensed_quantity * self.tolerance_pct / HUNDRED

    @property
    def tolerance_floor(self) -> Decimal:
        """The lowest the remaining quantity may ever be (minus the tolerance)."""
        return self.licensed_quantity - self.ceiling

    @property
    def remaining_quantity(self) -> Decimal:
        return self.licensed_quantity - self.used_quantity

    @property
    def closed(self) -> bool:
        return self.uses >= self.max_uses or self.used_quantity >= self.licensed_quantity

    @property
    def remaining_uses(self) -> int:
        return 0 if self.used_quantity >= self.licensed_quantity else self.max_uses - self.uses

    def available_on(self, on: date) -> Decimal:
        """The largest quantity one use could take on ``on`` (0 when no use is possible)."""
        if self._date_refusal(on) or self.closed or self.closed_at is not None:
            return Decimal(0)
        return self.ceiling - self.used_quantity

    # ------------------------------------------------------------------ decisions

    def _date_refusal(self, on: date) -> tuple[Refusal, str] | None:
        if on > self.valid_until:
            return Refusal.LICENSE_EXPIRED, f"the license was valid until {self.valid_until.isoformat()}"
        if self.issued_on is not None and on < self.issued_on:
            return Refusal.NOT_YET_VALID, f"the license was issued on {self.issued_on.isoformat()}"
        return None

    def _closed_refusal(self, at: datetime | None) -> Decision | None:
        # A declaration made before the license was closed was made on a valid license (Customs
        # may report it later); from the closing instant on, none is. Without an instant (an
        # availability check: "now"), a closed license covers nothing.
        if self.closed_at is None or (at is not None and at < self.closed_at):
            return None
        if self.closed_as == "surrendered":
            reason, what = Refusal.LICENSE_SURRENDERED, "surrendered"
        else:
            reason, what = Refusal.LICENSE_CANCELLED, "cancelled"
        return Decision(False, reason, f"the license was {what} at {self.closed_at.isoformat()}")

    def check(self, quantity: Decimal, on: date, at: datetime | None = None) -> Decision:
        """Could a use of ``quantity`` on ``on`` (at the instant ``at``) be recorded? Changes nothing."""
        closed = self._closed_refusal(at)
        if closed:
            return closed
        if quantity <= 0:
            return Decision(False, Refusal.INVALID_QUANTITY, "the quantity must be greater than 0")
        dated = self._date_refusal(on)
        if dated:
            return Decision(False, dated[0], dated[1])
        if self.uses >= self.max_uses:
            if self.one_batch_one_license:
                return Decision(
                    False,
                    Refusal.ONE_BATCH_ALREADY_USED,
                    "a one batch one license covers one customs declaration only, and it has been used",
                )
            return Decision(
                False,
                Refusal.USES_EXHAUSTED,
                f"the license has been used {self.uses} times (at most {self.max_uses})",
            )
        if self.used_quantity >= self.licensed_quantity:
            return Decision(
                False,
                Refusal.QUANTITY_EXHAUSTED,
                f"the licensed quantity {self.licensed_quantity} is used up ({self.used_quantity} used)",
            )
        total = self.used_quantity + quantity
        if total > self.ceiling:
            return Decision(
                False,
                Refusal.EXCEEDS_TOLERANCE,
                f"{quantity} would bring the total to {total}, over {self.ceiling} (licensed "
                f"{self.licensed_quantity} + {self.tolerance_pct}% overflow tolerance on the last use); "
                f"at most {self.ceiling - self.used_quantity} can be declared",
            )
        last = self.uses + 1 >= self.max_uses or total >= self.licensed_quantity
        overflow = max(total - self.licensed_quantity, Decimal(0))
        return Decision(True, last_use=last, overflow=overflow)

    # ------------------------------------------------------------------ recording

    def record_use(self, declaration_no: str, quantity: Decimal, at: datetime, on: date) -> LedgerEntry:
        """Record a declaration: a ``use`` entry if allowed, else a ``refused`` entry."""
        decision = self.check(quantity, on, at)
        if not decision.allowed:
            assert decision.reason is not None
            entry = LedgerEntry(
                EntryKind.REFUSED,
                declaration_no,
                quantity,
                at,
                reason=decision.reason.value,
                detail=decision.detail,
                used_after=self.used_quantity,
                uses_after=self.uses,
            )
        else:
            self.used_quantity += quantity
            self.uses += 1
            detail = "last use" if decision.last_use else ""
            if decision.overflow:
                detail = f"last use, {decision.overflow} over the licensed quantity (within tolerance)"
            entry = LedgerEntry(
                EntryKind.USE,
                declaration_no,
                quantity,
                at,
                detail=detail,
                used_after=self.used_quantity,
                uses_after=self.uses,
            )
        self.new_entries.append(entry)
        return entry

    def reverse(self, declaration_no: str, quantity: Decimal, kind: str, at: datetime) -> LedgerEntry:
        """Compensate a recorded use (the caller knows it is active): give back its quantity and
        its use. Never edits the use itself."""
        self.used_quantity -= quantity
        self.uses -= 1
        entry = LedgerEntry(
            EntryKind.REVERSAL,
            declaration_no,
            quantity,
            at,
            reason=kind,
            detail=f"declaration {kind}; {quantity} given back",
            used_after=self.used_quantity,
            uses_after=self.uses,
        )
        self.new_entries.append(entry)
        return entry
