"""Failpoints: let a test kill a process at an exact instant (for crash-consistency tests).

``AIL_FAILPOINTS="outbox_after_kafka_commit=2"`` makes the 2nd pass through that point kill the
process with SIGKILL; ``name=sleep:0.3`` makes every pass through an ``await delay(name)`` point
sleep that long (to widen a race window). Unset (always, outside tests), a failpoint costs one
dict lookup.
"""

from __future__ import annotations

import asyncio
import os
import signal

_counts: dict[str, int] = {}


def _armed() -> tuple[dict[str, int], dict[str, float]]:
    spec = os.environ.get("AIL_FAILPOINTS", "")
    kills: dict[str, int] = {}
    sleeps: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, value = item.partition("=")
        if value.startswith("sleep:"):
            sleeps[name] = float(value.removeprefix("sleep:"))
        else:
            kills[name] = int(value or "1")
    return kills, sleeps


_ARMED, _SLEEPS = _armed()


async def delay(name: str) -> None:
    if name in _SLEEPS:
        await asyncio.sleep(_SLEEPS[name])


def failpoint(name: str) -> None:
    if name not in _ARMED:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == _ARMED[name]:
        os.kill(os.getpid(), signal.SIGKILL)
