"""The stack driver's restart decision (scripts/devstack/backoff.py): pure, no processes."""

from __future__ import annotations

from tests.unit.support import devstack_module

backoff = devstack_module("backoff")
POLICY = backoff.Backoff(initial=1.0, factor=2.0, cap=30.0, stable_after=30.0)


def _delays(crashes: int, healthy_for: float | None = None) -> list[float]:
    out: list[float] = []
    previous = None
    for _ in range(crashes):
        previous = backoff.restart_after(POLICY, held=False, previous=previous, healthy_for=healthy_for)
        out.append(previous)
    return out


def test_a_component_that_keeps_dying_waits_twice_as_long_each_time_up_to_30_s() -> None:
    assert _delays(8) == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_a_component_that_dies_soon_after_answering_healthy_still_backs_off() -> None:
    assert _delays(4, healthy_for=5.0) == [1.0, 2.0, 4.0, 8.0]


def test_the_backoff_starts_again_at_1_s_once_it_stayed_healthy_30_s() -> None:
    assert backoff.restart_after(POLICY, held=False, previous=30.0, healthy_for=30.0) == 1.0
    assert backoff.restart_after(POLICY, held=False, previous=30.0, healthy_for=29.9) == 30.0
    assert backoff.restart_after(POLICY, held=False, previous=8.0, healthy_for=3600.0) == 1.0


def test_the_first_crash_is_restarted_after_the_initial_delay() -> None:
    assert backoff.restart_after(POLICY, held=False, previous=None, healthy_for=None) == 1.0
    assert backoff.restart_after(POLICY, held=False, previous=None, healthy_for=5.0) == 1.0


def test_a_component_held_down_by_dev_kill_is_never_restarted() -> None:
    for previous in (None, 1.0, 30.0):
        for healthy_for in (None, 0.0, 3600.0):
            assert (
                backoff.restart_after(POLICY, held=True, previous=previous, healthy_for=healthy_for) is None
            )


def test_the_default_policy_is_the_documented_one() -> None:
    assert backoff.Backoff() == POLICY
