"""Two (or more) ``run_all.py`` results side by side, e.g. the same stack with one and with two
replicas of every service (issue 16, scale out)::

    AIL_PROFILE=bench ./dev up --replicas 1 && .venv/bin/python benchmarks/run_all.py --json /tmp/r1.json
    AIL_PROFILE=bench ./dev scale 2          && .venv/bin/python benchmarks/run_all.py --json /tmp/r2.json
    .venv/bin/python benchmarks/compare_runs.py /tmp/r1.json /tmp/r2.json

One column per run, headed by its replica count, CPUs and load; a row per path of the issue's
table (the figure, and whether the goal was met). On a 2-core machine the second replica shows
correctness, not speed: see docs/performance.md, "Scale out"."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def column(doc: dict[str, Any]) -> tuple[str, dict[str, str]]:
    load = doc.get("load_before") or [0.0]
    head = f"{doc.get('replicas', 1)} replica(s), {doc.get('cpus', '?')} CPUs, load {float(load[0]):.1f}"
    cells = {}
    for r in doc.get("rows", []):
        met = {True: "yes", False: "NO", None: "-"}[r.get("met")]
        cells[r["path"]] = f"ERROR: {r['error']}" if r.get("error") else f"{r['figure']} ({met})"
    return head, cells


def compare(docs: list[dict[str, Any]]) -> str:
    cols = [column(d) for d in docs]
    paths: list[str] = []
    for d in docs:
        paths += [r["path"] for r in d.get("rows", []) if r["path"] not in paths]
    head = ["path", *(h for h, _ in cols)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join([p, *(c.get(p, "-") for _, c in cols)]) + " |" for p in paths]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    print(compare([json.loads(Path(a).read_text()) for a in argv]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
