"""Failpoints: let a test kill a process at an exact instant (for crash-consistency tests).

``AIL_FAILPOINTS="outbox_after_kafka_commit=2"`` makes the 2nd pass through that point kill the
process with SIGKILL. Unset (always, outside tests), a failpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def _armed() -> dict[str, int]:
    spec = os.environ.get("AIL_FAILPOINTS", "")
    out = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, n = item.partition("=")
        out[name] = int(n or "1")
    return out


_ARMED = _armed()


def failpoint(name: str) -> None:
    if name not in _ARMED:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == _ARMED[name]:
        os.kill(os.getpid(), signal.SIGKILL)
