"""The supervisor's restart decision, pure (no processes, no clock): whether a component that
stopped is started again, and after how long. Unit-tested in tests/unit/test_devstack.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """1 s, 2 s, 4 s ... up to 30 s between restarts of a component that keeps dying; back to
    1 s once it stayed healthy ``stable_after`` seconds (a crash an hour later is not a loop)."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    stable_after: float = 30.0

    def next_delay(self, previous: float | None, healthy_for: float | None) -> float:
        """The wait before the next start. ``previous``: the wait before the start that just
        ended (None: it was the first start); ``healthy_for``: how long it answered healthy
        before it stopped (None: never)."""
        if previous is None or (healthy_for is not None and healthy_for >= self.stable_after):
            return self.initial
        return min(self.cap, max(previous, self.initial) * self.factor)


def restart_after(
    policy: Backoff, *, held: bool, previous: float | None, healthy_for: float | None
) -> float | None:
    """Seconds to wait before starting a component that stopped, or None to leave it down: a
    component held down (``./dev kill``, ``./dev hold``) stays down until ``./dev start``."""
    if held:
        return None
    return policy.next_delay(previous, healthy_for)
