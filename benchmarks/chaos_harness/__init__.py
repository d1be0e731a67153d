"""The chaos harness (``benchmarks/chaos.py``): drives complete applications through the
platform while it SIGKILLs every component in turn and turns the sandboxes' fault modes on
and off, then waits for quiet and checks that nothing was lost or doubled.

Modules, one concern each: ``options`` (command line), ``stack`` (env file, clients, ./dev),
``driver`` (the agency: drafts, batch submit, declarations, re-sends), ``faults`` (kills and
sandbox fault windows), ``webhooks`` (receiver), ``observe`` (what the agency sees while it
runs), ``collect`` (each application as every party shows it), ``statistics`` (stats API vs
SQL), ``deadletters`` (``*.dlt`` topics), ``checks`` (pure checks), ``report`` (table, JSON),
``run`` (the run)."""

from __future__ import annotations

import asyncio
import signal

from benchmarks.chaos_harness.options import Options, parse


def main(argv: list[str] | None = None, description: str = "") -> int:
    opts = parse(argv, description or (__doc__ or ""))
    try:
        return asyncio.run(_main(opts))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("chaos run interrupted: components started again, faults off, subscriptions deleted; no checks")
        return 130


async def _main(opts: Options) -> int:
    from benchmarks.chaos_harness.run import Run

    # SIGTERM (a time-out, CI) cancels the run like Ctrl-C does, so its clean-up still happens:
    # a killed component is started again, faults are switched off, subscriptions deleted.
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await Run(opts).main()


__all__ = ["main"]
