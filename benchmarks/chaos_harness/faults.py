"""The chaos: SIGKILL of every component in turn (``./dev kill``), brought back after a random
downtime (``./dev start``, which waits for health); and the sandboxes' fault modes switched on
for a while and off again through their admin APIs."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.chaos_harness.stack import Stack, call

MOFCOM_FAULTS: dict[str, dict[str, Any]] = {
    "mofcom-5xx": {"error_rate": 0.3},
    "mofcom-timeout": {"timeout_rate": 0.3, "hang_seconds": 4.0, "process_before_timeout": True},
    "mofcom-duplicates": {"duplicate_rate": 0.5},
    "mofcom-out-of-order": {"out_of_order": True},
}
MOFCOM_CALM: dict[str, Any] = {
    "error_rate": 0.0,
    "timeout_rate": 0.0,
    "duplicate_rate": 0.0,
    "out_of_order": False,
}
CUSTOMS_FAULTS = {
    "customs-unavailable": "unavailable",
    "customs-failed": "failed",
    "customs-timeout": "timeout",
}


SERVICES = ("application", "submission", "status", "customs", "signer", "stats")  # replicated


@dataclass
class Kill:
    component: str
    downtime: float
    gap: float
    killed_at: float = 0.0
    back_at: float = 0.0
    ok: bool = False
    detail: str = ""


@dataclass
class Chaos:
    stack: Stack
    kills: list[Kill]
    faults: tuple[str, ...]
    fault_on: float
    fault_off: float
    log: Callable[[str], None]
    current_fault: str = ""
    fault_windows: list[tuple[str, float, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def plan(
        cls,
        stack: Stack,
        rng: random.Random,
        *,
        components: tuple[str, ...],
        rounds: int,
        downtime: tuple[float, float],
        gap: tuple[float, float],
        faults: tuple[str, ...],
        fault_on: float,
        fault_off: float,
        log: Callable[[str], None],
        replicas: int = 1,
    ) -> Chaos:
        """With several REPLICAS of each service, a kill of a service is the SIGKILL of one of
        its replicas (``NAME-k``, k at random): the others go on serving while it is down."""
        kills = []
        for _ in range(rounds):  # each component once per round, in a random order
            order = list(components)
            rng.shuffle(order)
            for c in order:
                name = f"{c}-{rng.randint(1, replicas)}" if replicas > 1 and c in SERVICES else c
                kills.append(Kill(name, round(rng.uniform(*downtime), 1), round(rng.uniform(*gap), 1)))
        return cls(stack, kills, faults, fault_on, fault_off, log)

    @property
    def kills_done(self) -> int:
        return sum(1 for k in self.kills if k.killed_at)

    @property
    def cycles_done(self) -> int:
        """Complete passes through every fault mode."""
        return len(self.fault_windows) // len(self.faults) if self.faults else 0

    async def run_kills(self, ready: Callable[[], bool]) -> None:
        """Each planned kill in turn, the first once ``ready()`` (work is in flight)."""
        while self.kills and not ready():
            await asyncio.sleep(0.3)
        for i, k in enumerate(self.kills, 1):
            try:
                await self._kill(i, k)
            except asyncio.CancelledError:
                if k.killed_at and not k.back_at:  # interrupted: never leave a component down
                    await asyncio.shield(self.stack.dev("start", k.component))
                raise

    async def _kill(self, i: int, k: Kill) -> None:
        """One kill: SIGKILL, the downtime, start again (waits for health), the gap."""
        rc, out = await self.stack.dev("kill", k.component)
        k.killed_at = time.monotonic()
        if rc != 0:
            k.detail = f"./dev kill {k.component} exited {rc}: {out.strip()[-300:]}"
            self.errors.append(k.detail)
        self.log(f"kill {i}/{len(self.kills)}: {k.component} SIGKILLed, back in {k.downtime:.1f}s")
        await asyncio.sleep(k.downtime)
        for attempt in range(3):
            rc, out = await self.stack.dev("start", k.component)
            if rc == 0:
                break
            self.log(f"./dev start {k.component} failed (attempt {attempt + 1}): {out.strip()[-300:]}")
            await asyncio.sleep(3)
        k.back_at = time.monotonic()
        k.ok = rc == 0
        if not k.ok:
            k.detail = f"./dev start {k.component} failed: {out.strip()[-500:]}"
            self.errors.append(k.detail)
        self.log(
            f"kill {i}/{len(self.kills)}: {k.component} "
            + (f"healthy again after {k.back_at - k.killed_at:.1f}s" if k.ok else "DID NOT COME BACK")
        )
        await asyncio.sleep(k.gap)

    async def run_faults(self, until: Callable[[], bool]) -> None:
        """Cycle through the fault modes (each on for ``fault_on`` s, then calm for
        ``fault_off`` s) until ``until()`` holds; always ends calm."""
        if not self.faults:
            return
        i = 0
        try:
            while not until():
                name = self.faults[i % len(self.faults)]
                i += 1
                await self._set(name)
                t0 = time.monotonic()
                self.current_fault = name
                self.log(f"fault on: {name} for {self.fault_on:.0f}s")
                await _sleep_unless(self.fault_on, until)
                await self._calm()
                self.fault_windows.append((name, t0, time.monotonic()))
                self.current_fault = ""
                await _sleep_unless(self.fault_off, until)
        finally:
            self.current_fault = ""
            await self._calm()

    async def _set(self, name: str) -> None:
        if name in MOFCOM_FAULTS:
            async with self.stack.mofcom() as mofcom:
                await call(
                    mofcom, "POST", "/control", json={"faults": {**MOFCOM_CALM, **MOFCOM_FAULTS[name]}}
                )
        else:
            async with self.stack.customs() as customs:
                await call(customs, "PUT", "/control/default", json={"mode": CUSTOMS_FAULTS[name]})

    async def _calm(self) -> None:
        async with self.stack.mofcom() as mofcom:
            await call(mofcom, "POST", "/control", json={"faults": MOFCOM_CALM})
        async with self.stack.customs() as customs:
            await call(customs, "PUT", "/control/default", json={"mode": "stored"})


async def _sleep_unless(seconds: float, until: Callable[[], bool]) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        await asyncio.sleep(min(1.0, end - time.monotonic()))
