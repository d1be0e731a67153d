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

from benchmarks.chaos_harness.options import parse


def main(argv: list[str] | None = None, description: str = "") -> int:
    from benchmarks.chaos_harness.run import Run

    opts = parse(argv, description or (__doc__ or ""))
    return asyncio.run(Run(opts).main())


__all__ = ["main"]
