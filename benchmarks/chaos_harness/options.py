"""Command-line options of the chaos harness."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

COMPONENTS = ("application", "submission", "status", "customs", "signer", "stats", "kafka", "postgres")
FAULTS = (
    "mofcom-5xx",  # a share of MOFCOM calls answered 500
    "mofcom-timeout",  # a share of MOFCOM calls hang (the submission is taken in, the answer lost)
    "mofcom-duplicates",  # review results delivered twice
    "mofcom-out-of-order",  # the second review's result delivered before the first's
    "customs-unavailable",  # Customs answers 503 to license deliveries
    "customs-failed",  # Customs refuses to store licenses
    "customs-timeout",  # Customs holds license deliveries past the client's timeout
)


@dataclass(frozen=True)
class Options:
    n: int = 2000
    kills: int = 3
    components: tuple[str, ...] = COMPONENTS
    downtime: tuple[float, float] = (2.0, 10.0)
    gap: tuple[float, float] = (3.0, 8.0)
    faults: tuple[str, ...] = FAULTS
    fault_on: float = 20.0
    fault_off: float = 15.0
    batch: int = 50
    rate: float = 0.0  # applications per second; 0: spread over the planned kill schedule
    quiet: float = 60.0
    settle_timeout: float = 1200.0
    seed: int | None = None
    webhooks: bool = True
    report: str | None = None
    replicas: int = 0  # copies of each service to run for the chaos (./dev scale); 0: as it is
    scale_back: bool = False  # after the run, back to the replica count the stack had


def _range(text: str) -> tuple[float, float]:
    lo, _, hi = text.partition("-")
    a, b = float(lo), float(hi or lo)
    if a < 0 or b < a:
        raise argparse.ArgumentTypeError(f"{text!r}: expected MIN-MAX seconds, e.g. 2-10")
    return a, b


def _names(choices: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(x for x in text.split(",") if x)
        unknown = [x for x in names if x not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown)}; choose from {', '.join(choices)}"
            )
        return names

    return parse


def parse(argv: list[str] | None, description: str) -> Options:
    ap = argparse.ArgumentParser(
        prog="benchmarks/chaos.py",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("-n", type=int, default=2000, help="complete applications to drive (default 2000)")
    ap.add_argument(
        "--kills", type=int, default=3, help="SIGKILLs of each component, in turn (default 3; 0: none)"
    )
    ap.add_argument(
        "--components",
        type=_names(COMPONENTS),
        default=COMPONENTS,
        help=f"comma-separated components to kill (default all: {','.join(COMPONENTS)})",
    )
    ap.add_argument(
        "--downtime", type=_range, default=(2.0, 10.0), help="random downtime after a kill, MIN-MAX s (2-10)"
    )
    ap.add_argument(
        "--gap", type=_range, default=(3.0, 8.0), help="random pause between kills, MIN-MAX s (3-8)"
    )
    ap.add_argument(
        "--faults",
        type=_names(FAULTS),
        default=FAULTS,
        help=f"comma-separated sandbox fault modes to cycle through (default all: {','.join(FAULTS)})",
    )
    ap.add_argument("--no-faults", action="store_true", help="leave the sandboxes well-behaved")
    ap.add_argument("--fault-on", type=float, default=20.0, help="seconds each fault mode stays on (20)")
    ap.add_argument("--fault-off", type=float, default=15.0, help="seconds between fault modes (15)")
    ap.add_argument(
        "--batch",
        type=int,
        default=50,
        help="applications per copy + batch-submit round (50, the copy limit)",
    )
    ap.add_argument(
        "--rate", type=float, default=0.0, help="applications/s to submit (default: spread over the kills)"
    )
    ap.add_argument(
        "--quiet", type=float, default=60.0, help="seconds without progress that count as quiet (60)"
    )
    ap.add_argument("--settle-timeout", type=float, default=1200.0, help="longest wait for quiet, s (1200)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (downtimes, gaps, quantities)")
    ap.add_argument("--no-webhooks", action="store_true", help="do not subscribe a webhook receiver")
    ap.add_argument("--report", default=None, help="also write the checks and figures as JSON to this file")
    ap.add_argument(
        "--replicas",
        type=int,
        default=0,
        help="run N copies of each service for the run (./dev scale N; default: as the stack runs);"
        " with several, each kill of a service SIGKILLs one replica of it (NAME-k), so the others serve",
    )
    ap.add_argument(
        "--scale-back", action="store_true", help="after the run, back to the replica count of before"
    )
    a = ap.parse_args(argv)
    if a.n < 1 or a.batch < 1 or a.batch > 50 or a.kills < 0 or not 0 <= a.replicas <= 4:
        ap.error("-n must be >= 1, --batch 1..50, --kills >= 0, --replicas 0..4")
    return Options(
        n=a.n,
        kills=a.kills,
        components=a.components,
        downtime=a.downtime,
        gap=a.gap,
        faults=() if a.no_faults else a.faults,
        fault_on=a.fault_on,
        fault_off=a.fault_off,
        batch=a.batch,
        rate=a.rate,
        quiet=a.quiet,
        settle_timeout=a.settle_timeout,
        seed=a.seed,
        webhooks=not a.no_webhooks,
        report=a.report,
        replicas=a.replicas,
        scale_back=a.scale_back,
    )
