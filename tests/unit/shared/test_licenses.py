"""The license-state rules of ``ail_shared.licenses`` (issue 15; DOMAIN.md section 9)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ail_shared.licenses import (
    LicenseState,
    Refusal,
    ReplacementAllowance,
    is_final,
    max_uses,
    may_become,
    replacement_allowance,
    state_label,
    surrender_refusal,
)

TODAY = date(2026, 6, 1)
LAST_DAY = date(2026, 8, 31)


def test_only_a_valid_license_changes_state_and_every_other_state_is_final() -> None:
    for state in LicenseState:
        assert is_final(state) is (state is not LicenseState.VALID)
        assert may_become(LicenseState.VALID, state) is (state is not LicenseState.VALID)
        assert not may_become(state, LicenseState.EXPIRED) or state is LicenseState.VALID
    assert state_label("cancelled") == "已注销"


def test_max_uses_of_the_two_kinds() -> None:
    assert (max_uses(True), max_uses(False)) == (1, 6)


@pytest.mark.parametrize(
    ("state", "uses", "on", "code"),
    [
        ("valid", 0, TODAY, None),
        ("valid", 1, TODAY, "license_used"),
        ("valid", 0, date(2026, 9, 1), "license_expired"),
        ("cancelled", 0, TODAY, "license_not_valid"),
        ("used_up", 6, TODAY, "license_not_valid"),
    ],
)
def test_only_an_unused_valid_license_within_its_validity_is_surrendered(
    state: str, uses: int, on: date, code: str | None
) -> None:
    refusal = surrender_refusal(state, uses=uses, valid_until=LAST_DAY, on=on)
    assert (refusal.code if refusal else None) == code


def allowance(
    state: str = "valid", used: str = "0", uses: int = 0, on: date = TODAY
) -> ReplacementAllowance | Refusal:
    return replacement_allowance(
        state,
        licensed_quantity=Decimal(1000),
        used_quantity=Decimal(used),
        uses=uses,
        license_max_uses=6,
        valid_until=LAST_DAY,
        on=on,
    )


def test_a_replacement_covers_the_unused_quantity_and_the_remaining_uses() -> None:
    assert allowance(used="400", uses=2) == ReplacementAllowance(Decimal(600), 4)
    assert allowance(used="999", uses=5) == ReplacementAllowance(Decimal(1), 1)  # one use left


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"used": "1000", "uses": 1}, "license_used_up"),
        ({"used": "1030", "uses": 1}, "license_used_up"),  # over, within the tolerance
        ({"used": "10", "uses": 6}, "license_used_up"),
        ({"state": "used_up", "used": "1000", "uses": 1}, "license_used_up"),
        ({"on": date(2026, 9, 1)}, "license_expired"),
        ({"state": "expired"}, "license_not_valid"),
        ({"state": "surrendered"}, "license_not_valid"),
    ],
)
def test_a_license_with_nothing_left_or_no_longer_valid_is_not_replaced(
    kw: dict[str, object], code: str
) -> None:
    got = allowance(**kw)  # type: ignore[arg-type]
    assert isinstance(got, Refusal) and got.code == code
