"""Issue 16: the chaos plan with several replicas kills one replica of a service at a time, and
two run_all results (one and two replicas) print side by side (benchmarks/compare_runs.py)."""

from __future__ import annotations

import random
from typing import Any

from benchmarks._stack import stack_replicas
from benchmarks.chaos_harness.faults import Chaos
from benchmarks.compare_runs import compare

COMPONENTS = ("application", "submission", "status", "customs", "signer", "stats", "kafka", "postgres")


def _plan(replicas: int) -> list[str]:
    chaos = Chaos.plan(
        None,  # type: ignore[arg-type]  # the plan does not touch the stack
        random.Random(7),
        components=COMPONENTS,
        rounds=2,
        downtime=(1.0, 2.0),
        gap=(1.0, 2.0),
        faults=(),
        fault_on=1.0,
        fault_off=1.0,
        log=print,
        replicas=replicas,
    )
    return [k.component for k in chaos.kills]


def test_one_replica_kills_the_service_as_before() -> None:
    assert sorted(_plan(1)) == sorted(COMPONENTS * 2)


def test_with_two_replicas_each_kill_of_a_service_is_one_replica_of_it() -> None:
    names = _plan(2)
    assert len(names) == 16
    services = [n for n in names if n not in ("kafka", "postgres")]
    assert all(n.rsplit("-", 1)[1] in ("1", "2") for n in services), services
    assert sorted(n.rsplit("-", 1)[0] for n in services) == sorted(COMPONENTS[:6] * 2)
    assert names.count("kafka") == names.count("postgres") == 2


def _doc(replicas: int, figure: str) -> dict[str, Any]:
    row = {"path": "the same, batch submit", "figure": figure, "met": False, "error": ""}
    return {"replicas": replicas, "cpus": 2, "load_before": [1.0, 1.0, 1.0], "rows": [row]}


def test_two_runs_side_by_side_headed_by_their_replica_count() -> None:
    out = compare([_doc(1, "60/s"), _doc(2, "58/s")]).splitlines()
    assert out[0] == "| path | 1 replica(s), 2 CPUs, load 1.0 | 2 replica(s), 2 CPUs, load 1.0 |"
    assert out[2] == "| the same, batch submit | 60/s (NO) | 58/s (NO) |"
    assert stack_replicas({"AIL_STACK_REPLICAS": "2"}) == 2 and stack_replicas({}) == 1
