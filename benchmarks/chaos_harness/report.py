"""The table of checks and the run's figures, for people (stdout) and for tests (JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.chaos_harness.checks import Check


def table(checks: list[Check]) -> str:
    rows = [("check", "expected", "actual", "result")] + [
        (c.name, c.expected, c.actual, "pass" if c.ok else "FAIL") for c in checks
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    out = [line]
    for i, r in enumerate(rows):
        out.append("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |")
        if i == 0:
            out.append(line)
    out.append(line)
    for c in checks:
        if not c.ok and c.examples:
            out.append(f"\n{c.name}: FAIL, for example:")
            out += [f"  - {e}" for e in c.examples]
    return "\n".join(out)


def write_json(path: str, checks: list[Check], figures: dict[str, Any]) -> None:
    data = {"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks], "figures": figures}
    Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))
