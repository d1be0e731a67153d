"""One chaos run, start to end: prepare (templates, receiver, dead-letter offsets, stats
baseline), drive the applications while the chaos runs, wait for quiet, collect, check."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from datetime import UTC, datetime
from typing import Any

from benchmarks.chaos_harness import checks as checks_mod
from benchmarks.chaos_harness import collect, deadletters, report, statistics
from benchmarks.chaos_harness.driver import Driver, new_run_tag, pace
from benchmarks.chaos_harness.faults import Chaos
from benchmarks.chaos_harness.observe import Observer
from benchmarks.chaos_harness.options import Options
from benchmarks.chaos_harness.stack import Stack, call
from benchmarks.chaos_harness.webhooks import Receiver, SubscriptionRefused, pending, unsubscribe

NO_KILL_RATE = 10.0  # applications/s when there is no kill schedule to spread them over
PROGRESS_EVERY = 10.0


class Run:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.t0 = time.monotonic()
        self.rng = random.Random(opts.seed)
        self.stack = Stack.find()
        self.tag = new_run_tag()
        self.driver = Driver(self.stack, self.rng, self.tag)
        self.observer = Observer(self.stack, datetime.now(UTC))
        self.receiver = Receiver() if opts.webhooks else None
        self.replicas_before = self.stack.replicas
        self.chaos = self._plan()
        self.driving_done = False
        self.kills_done = opts.kills == 0
        self.resends = 0
        self.subs: list[tuple[str, str]] = []
        self.pending_deliveries: int | None = 0

    def _plan(self) -> Chaos:
        opts = self.opts
        return Chaos.plan(
            self.stack,
            self.rng,
            components=opts.components,
            rounds=opts.kills,
            downtime=opts.downtime,
            gap=opts.gap,
            faults=opts.faults,
            fault_on=opts.fault_on,
            fault_off=opts.fault_off,
            log=self.say,
            replicas=self.stack.replicas,
        )

    async def scale(self, n: int) -> None:
        """``./dev scale N`` (waits until every replica is healthy); the stack's env file then
        names the replicas, so the harness reads it again."""
        self.say(f"./dev scale {n} ...")
        rc, out = await self.stack.dev("scale", str(n), timeout=900.0)
        if rc != 0:
            raise SystemExit(f"./dev scale {n} failed (exit {rc}):\n{out[-3000:]}")
        self.stack = Stack.find()
        self.driver.stack = self.observer.stack = self.stack
        self.say(f"the stack runs {self.stack.replicas} replica(s) of each service")

    def say(self, msg: str) -> None:
        print(f"[chaos {time.monotonic() - self.t0:7.1f}s] {msg}", flush=True)

    # ---------------------------------------------------------------- progress

    def _progress_line(self) -> str:
        st = self.observer.statuses()
        parts = [f"{k} {v}" for k, v in sorted(st.items())]
        hooks = (
            f", webhooks {self.receiver.total} (pending {self.pending_deliveries})" if self.receiver else ""
        )
        fault = f", fault {self.chaos.current_fault}" if self.chaos.current_fault else ""
        return (
            f"submitted {sum(1 for a in self.driver.apps.values() if a.submits)}/{self.opts.n},"
            f" declared {sum(1 for a in self.driver.apps.values() if a.declaration_no)},"
            f" kills {self.chaos.kills_done}/{len(self.chaos.kills)}{fault}{hooks} | " + ", ".join(parts)
        )

    def _signature(self) -> tuple[Any, ...]:
        seen = tuple(
            sorted(
                (i, s.status, s.customs_status, s.next_auto_resend_at) for i, s in self.observer.seen.items()
            )
        )
        hooks = self.receiver.total if self.receiver else 0
        declared = sum(1 for a in self.driver.apps.values() if a.declaration_no)
        return seen, hooks, declared, self.pending_deliveries

    def _all_cleared(self) -> bool:
        """Every application cleared and no webhook delivery outstanding."""
        st = self.observer.statuses()
        return (
            self.pending_deliveries == 0
            and st.get("issued/stored", 0) == len(self.observer.ids)
            and all(a.declaration_no for a in self.driver.apps.values() if a.submits)
        )

    async def watch(self, until: asyncio.Event) -> None:
        """Scan what the agency sees, declare at Customs what it stored, print progress."""
        last_print = 0.0
        while not until.is_set():
            self.observer.ids = {i for i, a in self.driver.apps.items() if a.submits}
            if await self.observer.scan():
                await self.driver.declare(self.observer.stored())
            if time.monotonic() - last_print >= PROGRESS_EVERY:
                last_print = time.monotonic()
                self.say(self._progress_line())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), 3.0)

    async def settle(self) -> float:
        """Wait until nothing moves for ``quiet`` seconds (or all is cleared and, with webhooks,
        deliveries stopped), bounded by ``settle_timeout``; an operator re-sends deliveries that
        failed for good once on the way. Returns seconds waited."""
        t0 = time.monotonic()
        last_sig: tuple[Any, ...] = ()
        last_change = time.monotonic()
        resent_rounds = 0
        while time.monotonic() - t0 < self.opts.settle_timeout:
            self.observer.ids = {i for i, a in self.driver.apps.items() if a.submits}
            if await self.observer.scan():
                await self.driver.declare(self.observer.stored())
            if self.receiver:
                self.pending_deliveries = await pending(self.stack, self.subs)
            sig = self._signature()
            if sig != last_sig:
                last_sig, last_change = sig, time.monotonic()
            quiet_for = time.monotonic() - last_change
            if quiet_for >= self.opts.quiet or (
                self._all_cleared() and quiet_for >= min(15.0, self.opts.quiet)
            ):
                failed = self.observer.failed_for_good()
                if failed and resent_rounds < 2:
                    resent_rounds += 1
                    n = await self.driver.resend(failed)
                    self.resends += n
                    self.say(f"operator re-sends {n} license deliveries that failed for good")
                    last_change = time.monotonic()
                    continue
                break
            if int(time.monotonic() - t0) % 10 < 3:
                self.say(f"settling ({quiet_for:.0f}s quiet): {self._progress_line()}")
            await asyncio.sleep(3)
        else:
            self.say(f"no quiet within {self.opts.settle_timeout:.0f}s: checking anyway")
        return time.monotonic() - t0

    # ---------------------------------------------------------------- the run

    async def main(self) -> int:
        opts = self.opts
        if opts.replicas and opts.replicas != self.stack.replicas:
            await self.scale(opts.replicas)
            self.chaos = self._plan()
        try:
            return await self._main()
        finally:
            if opts.scale_back and self.stack.replicas != self.replicas_before:
                await self.scale(self.replicas_before)

    async def _main(self) -> int:
        opts = self.opts
        self.say(
            f"stack '{self.stack.profile}' ({self.stack.env['AIL_ENTRY_URL']}), run {self.tag}, n={opts.n},"
            f" {self.stack.replicas} replica(s) of each service,"
            f" kills {opts.kills}x{len(opts.components)}, faults {','.join(opts.faults) or 'none'};"
            f" {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
        )
        async with self.stack.mofcom() as m:
            await call(m, "POST", "/control/reset")
        async with self.stack.customs() as c:
            await call(c, "PUT", "/control/default", json={"mode": "stored"})
        dl = await deadletters.mark(self.stack.env["AIL_KAFKA_BOOTSTRAP"])
        months = statistics.months_around(statistics.now())
        self.say("reading the statistics once they stop moving (earlier work may still be folding) ...")
        stats_before = await statistics.read_steady(self.stack, months)
        await self.driver.make_templates()
        if self.receiver:
            await self.receiver.start()
            try:
                self.subs = await self.receiver.subscribe(self.stack, self.tag)
            except SubscriptionRefused as exc:
                raise SystemExit(str(exc)) from exc
            self.say(f"webhook receiver on 127.0.0.1:{self.receiver.port}, {len(self.subs)} subscriptions")
        try:
            return await self._drive_and_check(dl, months, stats_before)
        finally:
            if self.receiver:
                with contextlib.suppress(Exception):
                    await unsubscribe(self.stack, self.subs)
                await self.receiver.stop()

    async def _drive_and_check(
        self, dl: deadletters.DeadLetters, months: list[str], stats_before: Any
    ) -> int:
        opts = self.opts
        kills = len(self.chaos.kills)
        started = time.monotonic()
        if kills and not opts.rate:
            # A share before the first kill and one after each: work is in flight at every kill.
            batch = min(opts.batch, max(1, opts.n // (2 * (kills + 1))))

            def target() -> int:
                return -(-opts.n * (self.chaos.kills_done + 1) // (kills + 1))

            self.say(
                f"submitting {opts.n} applications in {kills + 1} shares (one per kill), batches of {batch}"
            )
        else:
            rate = opts.rate or NO_KILL_RATE
            batch = min(opts.batch, max(1, int(rate * 5)))

            def target() -> int:
                return int(rate * (time.monotonic() - started)) + batch

            self.say(f"submitting at {rate:.1f} applications/s in batches of {batch}")
        stop_watch = asyncio.Event()
        watcher = asyncio.create_task(self.watch(stop_watch))

        async def drive() -> None:
            await pace(self.driver, opts.n, batch, target)
            self.driving_done = True

        async def kill() -> None:
            await self.chaos.run_kills(
                lambda: self.driving_done or len(self.driver.apps) >= min(opts.n, target())
            )
            self.kills_done = True

        def chaos_over() -> bool:  # faults go on until the driving and kills end, one full cycle at least
            return self.driving_done and self.kills_done and self.chaos.cycles_done >= 1

        await asyncio.gather(drive(), kill(), self.chaos.run_faults(chaos_over))
        chaos_s = time.monotonic() - started
        self.say(f"driving and chaos done after {chaos_s:.0f}s: {self._progress_line()}")
        stop_watch.set()
        await watcher
        settle_s = await self.settle()
        self.say(f"quiet after {settle_s:.0f}s more: {self._progress_line()}")
        return await self._check(dl, months, stats_before, started, chaos_s, settle_s)

    async def _check(
        self,
        dl: deadletters.DeadLetters,
        months: list[str],
        stats_before: Any,
        started: float,
        chaos_s: float,
        settle_s: float,
    ) -> int:
        ids = list(self.driver.apps)
        self.say(f"collecting {len(ids)} applications from the API, MOFCOM and the database ...")
        facts = await collect.gather(
            self.stack, ids, progress=lambda d: self.say(f"  collected {d}/{len(ids)}")
        )
        license_nos = [f.app["license_no"] for f in facts.values() if f.app and f.app.get("license_no")]
        conn = await collect.connect_read_only(self.stack.env["AIL_PG_DSN"])
        try:
            db = await collect.database(conn, ids, license_nos)
            self.say("comparing the statistics with SQL ...")
            try:
                stats_problems, approvals = await statistics.settle(
                    self.stack, conn, ids, stats_before, months
                )
            except Exception as exc:  # noqa: BLE001 - reported as the check's failure
                stats_problems, approvals = [f"could not compare: {exc!r}"], 0
        finally:
            await conn.close()
        created_twice = await collect.mofcom_keys_created_twice(self.stack)
        dl = await deadletters.read_since(self.stack.env["AIL_KAFKA_BOOTSTRAP"], dl)
        results, outcomes = checks_mod.evaluate(
            n=self.opts.n,
            apps=dict(self.driver.apps),
            facts=facts,
            db=db,
            mofcom_created_twice=created_twice,
            webhook_receipts=self.receiver.receipts if self.receiver else None,
            webhook_bad=self.receiver.bad_signatures if self.receiver else 0,
            stats_problems=stats_problems,
            stats_approvals=approvals,
            dead_letters=dl.valid,
            dead_letter_records=dl.records,
            kills_planned=len(self.chaos.kills),
            kills_failed=self.chaos.errors,
            driver_errors=self.driver.errors,
        )
        cleared_at = time.monotonic()
        total_s = cleared_at - self.t0
        figures = {
            "applications": self.opts.n,
            "outcomes": dict(outcomes),
            "applications_per_second": round(outcomes["cleared"] / max(chaos_s + settle_s, 1e-9), 2),
            "drive_and_chaos_seconds": round(chaos_s, 1),
            "settle_seconds": round(settle_s, 1),
            "total_seconds": round(total_s, 1),
            "kills_done": self.chaos.kills_done,
            "replicas": self.stack.replicas,
            "kills": [
                (k.component, round(k.downtime, 1), round(k.back_at - k.killed_at, 1))
                for k in self.chaos.kills
            ],
            "fault_windows": [(n, round(b - a, 1)) for n, a, b in self.chaos.fault_windows],
            "operator_resends": self.resends,
            "webhooks": None
            if not self.receiver
            else {
                "distinct": len(self.receiver.receipts),
                "deliveries": self.receiver.total,
            },
            "dead_letters": dict(dl.by_reason),
        }
        print()
        print(report.table(results))
        print()
        print(
            f"figures: {outcomes['cleared']} of {self.opts.n} applications cleared in"
            f" {chaos_s + settle_s:.0f}s ({figures['applications_per_second']} applications/s;"
            f" driving + chaos {chaos_s:.0f}s, settling {settle_s:.0f}s; whole run {total_s:.0f}s);"
            f" kills done {self.chaos.kills_done}/{len(self.chaos.kills)};"
            f" fault windows {len(self.chaos.fault_windows)}; operator re-sends {self.resends}"
            + (
                f"; webhooks {len(self.receiver.receipts)} events, {self.receiver.total} deliveries"
                if self.receiver
                else ""
            )
            + f"; outcomes {dict(outcomes)}"
        )
        if dl.by_reason:
            print("dead letters during the run: " + "; ".join(f"{k} x{v}" for k, v in dl.by_reason.items()))
        if self.opts.report:
            report.write_json(self.opts.report, results, figures)
        ok = all(c.ok for c in results)
        print(f"\nchaos run {self.tag}: {'ALL CHECKS HOLD' if ok else 'SOME CHECKS FAILED'}")
        return 0 if ok else 1
