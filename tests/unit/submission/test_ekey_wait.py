"""Issue 10, item 3: where a signature request goes, with a fake clock. A lapsed heartbeat (a
signer restart, a Kafka outage longer than the 15 s lifetime) makes a submission wait, visibly;
only a host's explicit "absent" or the grace period fails it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ail_submission.domain.ekeys import Absent, Route, Sighting, Wait, decide

SERIAL = "ee34ea9afbd4c4f0"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
GRACE = timedelta(minutes=10)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def announced(host: str, at: datetime, absent_at: datetime | None = None) -> Sighting:
    return Sighting(host_id=host, last_seen=at, ttl_seconds=15.0, absent_at=absent_at)


def test_fresh_announcement_routes_to_the_latest_host() -> None:
    clock = FakeClock(T0)
    seen = [announced("host-a", T0 - timedelta(seconds=4)), announced("host-b", T0 - timedelta(seconds=1))]
    assert decide(SERIAL, seen, now=clock.now, waiting_since=clock.now, grace=GRACE) == Route("host-b")


def test_a_lapsed_heartbeat_waits_with_a_visible_reason_instead_of_failing() -> None:
    """What sent 201 applications back to draft: 30 s without a heartbeat."""
    clock = FakeClock(T0)
    seen = [announced("host-a", T0)]
    clock.advance(30)
    decision = decide(SERIAL, seen, now=clock.now, waiting_since=clock.now, grace=GRACE)
    assert isinstance(decision, Wait)
    assert decision.detail.startswith(f"waiting for e-key {SERIAL} on a signer host")
    assert decision.give_up_at == T0 + GRACE


def test_the_wait_ends_with_the_next_announcement() -> None:
    clock = FakeClock(T0)
    clock.advance(120)
    assert isinstance(
        decide(SERIAL, [announced("host-a", T0)], now=clock.now, waiting_since=T0, grace=GRACE), Wait
    )
    back = [announced("host-a", clock.advance(1))]
    assert decide(SERIAL, back, now=clock.advance(1), waiting_since=T0, grace=GRACE) == Route("host-a")


def test_no_announcement_for_the_grace_period_fails() -> None:
    clock = FakeClock(T0)
    seen = [announced("host-a", T0)]
    clock.advance(GRACE.total_seconds() - 1)
    assert isinstance(decide(SERIAL, seen, now=clock.now, waiting_since=clock.now, grace=GRACE), Wait)
    clock.advance(1)
    decision = decide(SERIAL, seen, now=clock.now, waiting_since=clock.now, grace=GRACE)
    assert isinstance(decision, Absent) and "10 minutes" in decision.detail


def test_a_key_never_announced_waits_the_grace_period_from_the_start_of_the_wait() -> None:
    clock = FakeClock(T0)
    decision = decide(SERIAL, [], now=clock.now, waiting_since=T0, grace=GRACE)
    assert isinstance(decision, Wait) and decision.give_up_at == T0 + GRACE
    clock.advance(GRACE.total_seconds())
    assert isinstance(decide(SERIAL, [], now=clock.now, waiting_since=T0, grace=GRACE), Absent)


def test_the_host_saying_the_key_is_absent_fails_fast() -> None:
    clock = FakeClock(T0)
    seen = [announced("host-a", T0 - timedelta(seconds=5), absent_at=T0)]
    decision = decide(SERIAL, seen, now=clock.advance(0.1), waiting_since=clock.now, grace=GRACE)
    assert isinstance(decision, Absent) and "host-a reported" in decision.detail


def test_absent_on_one_host_but_announced_later_elsewhere_is_not_absent() -> None:
    clock = FakeClock(T0)
    seen = [
        announced("host-a", T0 - timedelta(seconds=60), absent_at=T0 - timedelta(seconds=50)),
        announced("host-b", T0 - timedelta(seconds=40)),  # moved to host-b, whose beat lapsed
    ]
    assert isinstance(decide(SERIAL, seen, now=clock.now, waiting_since=clock.now, grace=GRACE), Wait)
    seen[1] = announced("host-b", T0)
    assert decide(SERIAL, seen, now=clock.advance(1), waiting_since=T0, grace=GRACE) == Route("host-b")


def test_the_grace_period_is_a_setting_in_minutes() -> None:
    from ail_submission.config import Settings

    assert Settings().ekey_grace == timedelta(minutes=10)
    assert Settings(ekey_grace_minutes=2.5).ekey_grace == timedelta(seconds=150)
