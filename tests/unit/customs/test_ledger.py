"""The license usage ledger rules (DOMAIN 9), pure, including property-based tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ail_customs.domain.ledger import EntryKind, Ledger, Refusal
from ail_customs.domain.tolerance import tolerance_for

AT = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
ON = date(2026, 3, 1)


def ledger(quantity: str = "1000", *, one_batch: bool = False, tol: str = "5") -> Ledger:
    return Ledger(
        license_no="26AANW0001",
        licensed_quantity=Decimal(quantity),
        one_batch_one_license=one_batch,
        valid_until=date(2026, 6, 30),
        tolerance_pct=Decimal(tol),
        issued_on=date(2026, 1, 2),
    )


def test_six_uses_then_the_seventh_is_refused() -> None:
    led = ledger()
    for i in range(6):
        assert led.record_use(f"D{i}", Decimal("10"), AT, ON).kind is EntryKind.USE
    assert led.remaining_uses == 0
    seventh = led.record_use("D7", Decimal("1"), AT, ON)
    assert (seventh.kind, seventh.reason) == (EntryKind.REFUSED, Refusal.USES_EXHAUSTED)
    assert led.used_quantity == Decimal("60") and led.uses == 6


def test_one_batch_license_is_used_once() -> None:
    led = ledger(one_batch=True)
    assert led.max_uses == 1
    assert led.record_use("D1", Decimal("400"), AT, ON).kind is EntryKind.USE
    second = led.record_use("D2", Decimal("1"), AT, ON)
    assert second.reason == Refusal.ONE_BATCH_ALREADY_USED


def test_tolerance_on_the_last_use_just_within_and_just_over() -> None:
    # 1000 licensed, 3 % (steel): the cumulative total may reach exactly 1030.
    led = ledger(tol="3")
    led.record_use("D1", Decimal("600"), AT, ON)
    over = led.check(Decimal("430.001"), ON)
    assert not over.allowed and over.reason is Refusal.EXCEEDS_TOLERANCE
    assert "at most 430" in over.detail
    within = led.record_use("D2", Decimal("430"), AT, ON)
    assert within.kind is EntryKind.USE
    assert led.remaining_quantity == Decimal("-30") == led.tolerance_floor
    assert led.remaining_uses == 0  # the use that went over closed the license
    assert led.check(Decimal("0.001"), ON).reason is Refusal.QUANTITY_EXHAUSTED


def test_no_tolerance_beyond_the_cumulative_ceiling_even_split_over_uses() -> None:
    led = ledger()
    led.record_use("D1", Decimal("1000"), AT, ON)  # exactly the licensed quantity: closes it
    assert led.check(Decimal("50"), ON).reason is Refusal.QUANTITY_EXHAUSTED


def test_use_after_expiry_and_before_issue_are_refused() -> None:
    led = ledger()
    assert led.check(Decimal("1"), date(2026, 6, 30)).allowed
    assert led.check(Decimal("1"), date(2026, 7, 1)).reason is Refusal.LICENSE_EXPIRED
    assert led.check(Decimal("1"), date(2026, 1, 1)).reason is Refusal.NOT_YET_VALID
    assert led.available_on(date(2026, 7, 1)) == 0


def test_reversal_gives_back_quantity_and_use() -> None:
    led = ledger(one_batch=True)
    led.record_use("D1", Decimal("1040"), AT, ON)
    assert led.check(Decimal("1"), ON).reason is Refusal.ONE_BATCH_ALREADY_USED
    entry = led.reverse("D1", Decimal("1040"), "invalidated", AT)
    assert entry.kind is EntryKind.REVERSAL and entry.reason == "invalidated"
    assert (led.used_quantity, led.uses, led.remaining_uses) == (Decimal(0), 0, 1)
    assert led.check(Decimal("1050"), ON).allowed


def test_zero_or_negative_quantity_is_refused() -> None:
    assert ledger().check(Decimal("0"), ON).reason is Refusal.INVALID_QUANTITY


def test_tolerance_table_by_hs_prefix_and_catalogue_wins() -> None:
    assert tolerance_for("2709000000") == (Decimal("3"), "hs_prefix_table")  # crude oil
    assert tolerance_for("2710121000") == (Decimal("3"), "hs_prefix_table")  # refined oil
    assert tolerance_for("3105200000") == (Decimal("3"), "hs_prefix_table")  # fertiliser
    assert tolerance_for("7208100000") == (Decimal("3"), "hs_prefix_table")  # steel
    assert tolerance_for("2601111000") == (Decimal("5"), "hs_prefix_table")  # iron ore: bulk
    assert tolerance_for("2601111000", Decimal("4")) == (Decimal("4"), "catalogue")


# ---------------------------------------------------------------- properties

quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("800"), places=3)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("use"), quantities),
        st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=20)),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    licensed=st.decimals(min_value=Decimal("1"), max_value=Decimal("2000"), places=3),
    tol=st.sampled_from([Decimal("3"), Decimal("5")]),
    one_batch=st.booleans(),
    steps=ops,
)
def test_remaining_is_licensed_minus_uses_plus_reversals_and_never_below_the_floor(
    licensed: Decimal, tol: Decimal, one_batch: bool, steps: list[tuple[str, object]]
) -> None:
    led = Ledger("L", licensed, one_batch, date(2026, 12, 31), tol)
    active: dict[str, Decimal] = {}
    entries = []
    for n, (op, arg) in enumerate(steps):
        if op == "use":
            assert isinstance(arg, Decimal)
            entry = led.record_use(f"D{n}", arg, AT, ON)
            if entry.kind is EntryKind.USE:
                active[f"D{n}"] = arg
        else:
            assert isinstance(arg, int)
            if not active:
                continue
            decl = sorted(active)[arg % len(active)]
            entry = led.reverse(decl, active.pop(decl), "amended", AT)
        entries.append(entry)
        uses = sum((e.quantity for e in entries if e.kind is EntryKind.USE), Decimal(0))
        reversals = sum((e.quantity for e in entries if e.kind is EntryKind.REVERSAL), Decimal(0))
        count = sum(e.kind is EntryKind.USE for e in entries) - sum(
            e.kind is EntryKind.REVERSAL for e in entries
        )
        assert led.remaining_quantity == licensed - uses + reversals
        assert led.remaining_quantity >= led.tolerance_floor == -licensed * tol / 100
        assert led.uses == count <= led.max_uses
        assert 0 <= led.remaining_uses <= led.max_uses
        assert (entry.used_after, entry.uses_after) == (led.used_quantity, led.uses)


@settings(max_examples=200, deadline=None)
@given(licensed=st.decimals(min_value=Decimal("1"), max_value=Decimal("2000"), places=3), q=quantities)
def test_availability_check_agrees_with_recording(licensed: Decimal, q: Decimal) -> None:
    led = Ledger("L", licensed, False, date(2026, 12, 31), Decimal("5"))
    decision = led.check(q, ON)
    entry = led.record_use("D", q, AT, ON)
    assert decision.allowed == (entry.kind is EntryKind.USE)
    assert decision.allowed == (q <= licensed * Decimal("1.05"))
