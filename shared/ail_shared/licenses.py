"""The license's own life after issue (DOMAIN.md section 9, issue 15), one home for every caller.

An application's status ends at ``license_issued`` (``ail_shared.lifecycle``); from then on the
*license* has a state of its own, beside it:

    valid ──(last use)──────────────> used_up
      │ ───(surrender, unused)──────> surrendered
      │ ───(replaced / MOFCOM)──────> cancelled   (why: ``CancelReason``)
      └────(valid_until passed)─────> expired

Every state but ``valid`` is final: a late or replayed event never moves a license out of one
(``may_become``). The face of a license is never edited (证面内容不得更改): a change or an
extension is a new application that replaces it (``replacement_allowance``).

Callers: the customs service (which owns license state, beside its ledger), the application
service (the reissued draft's limits), status and stats (labels, what counts), the Customs
sandbox. ``tests/unit/shared/test_licenses.py`` pins the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "MAX_USES",
    "CancelReason",
    "LicenseState",
    "Refusal",
    "ReplacementAllowance",
    "is_final",
    "max_uses",
    "may_become",
    "replacement_allowance",
    "state_label",
    "surrender_refusal",
]

MAX_USES = 6  # not one batch one license: at most 6 declarations (DOMAIN 9)


class LicenseState(StrEnum):
    VALID = "valid"
    USED_UP = "used_up"
    SURRENDERED = "surrendered"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class CancelReason(StrEnum):
    REPLACED = "replaced"  # a change or extension was issued: the new license names this one
    MOFCOM = "mofcom"  # the issuing authority cancelled it


_LABELS = {
    LicenseState.VALID: "有效",
    LicenseState.USED_UP: "已用完",
    LicenseState.SURRENDERED: "已交回",
    LicenseState.CANCELLED: "已注销",
    LicenseState.EXPIRED: "已过期",
}


def state_label(state: LicenseState | str) -> str:
    return _LABELS.get(LicenseState(state), str(state))


def is_final(state: LicenseState | str) -> bool:
    return LicenseState(state) is not LicenseState.VALID


def may_become(current: LicenseState | str, new: LicenseState | str) -> bool:
    """Only a valid license changes state; a final one stays as it is (idempotent end to end)."""
    return LicenseState(current) is LicenseState.VALID and LicenseState(new) is not LicenseState.VALID


def max_uses(one_batch_one_license: bool) -> int:
    return 1 if one_batch_one_license else MAX_USES


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str


def surrender_refusal(state: LicenseState | str, *, uses: int, valid_until: date, on: date) -> Refusal | None:
    """Why a license may not be handed back (交回), or None: only a valid license not used at all,
    within its validity (``on`` is today in China)."""
    state = LicenseState(state)
    if state is not LicenseState.VALID:
        return Refusal(
            "license_not_valid", f"the license is {state.value}; only a valid license is surrendered"
        )
    if on > valid_until:
        return Refusal("license_expired", f"the license expired on {valid_until.isoformat()}")
    if uses > 0:
        return Refusal(
            "license_used",
            f"the license was used in {uses} declaration(s); only an unused license is surrendered"
            " (replace it by a change instead, for what is left)",
        )
    return None


@dataclass(frozen=True)
class ReplacementAllowance:
    """What a replacement (change or extension) may cover: the old license's unused quantity and
    its remaining uses, never more."""

    quantity: Decimal
    uses: int


def replacement_allowance(
    state: LicenseState | str,
    *,
    licensed_quantity: Decimal,
    used_quantity: Decimal,
    uses: int,
    license_max_uses: int,
    valid_until: date,
    on: date,
) -> ReplacementAllowance | Refusal:
    """The rule for a change or an extension of a license (DOMAIN terms): only a valid license,
    not past its last day, with something left, is replaced; the replacement covers at most its
    unused quantity (never the overflow tolerance: the replacement has its own) and its remaining
    uses. Asked again when the replacement is issued, since the old license may be used meanwhile."""
    state = LicenseState(state)
    if state is LicenseState.USED_UP:
        return Refusal("license_used_up", "the license is used up: there is nothing left to replace")
    if state is not LicenseState.VALID:
        return Refusal("license_not_valid", f"the license is {state.value}; only a valid license is replaced")
    if on > valid_until:
        return Refusal("license_expired", f"the license expired on {valid_until.isoformat()}")
    quantity = licensed_quantity - used_quantity
    left = license_max_uses - uses
    if quantity <= 0 or left <= 0:
        return Refusal("license_used_up", "the license has no unused quantity or uses left to replace")
    return ReplacementAllowance(quantity=quantity, uses=left)
