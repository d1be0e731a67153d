"""Read and print a trace of the local trace store's file (``ail_sandbox.tracestore``): what
``./dev trace TRACE_ID`` runs. Standard library only.

Run: ``python -m ail_sandbox.tracetree FILE TRACE_ID [--json]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def read_trace(path: Path, trace_id: str) -> list[dict[str, Any]]:
    """The stored spans of ``trace_id``, by start time."""
    spans: list[dict[str, Any]] = []
    needle = f'"trace_id": "{trace_id.lower()}"'
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if needle in line:
                    spans.append(json.loads(line))
    except FileNotFoundError:
        return []
    return sorted(spans, key=lambda s: int(s["start_ns"]))


def render_tree(spans: list[dict[str, Any]]) -> str:
    """The trace as an indented tree: service, span name, kind and duration, children by start."""
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        parent = s["parent_span_id"] if s["parent_span_id"] in by_id else None
        children.setdefault(parent, []).append(s)
    t0 = min((int(s["start_ns"]) for s in spans), default=0)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda x: int(x["start_ns"])):
            ms = (int(s["end_ns"]) - int(s["start_ns"])) / 1e6
            at = (int(s["start_ns"]) - t0) / 1e6
            mark = " ERROR" if s["status"] == "error" else ""
            lines.append(
                f"{'  ' * depth}{s['service']}: {s['name']} [{s['kind']}] +{at:.1f}ms {ms:.1f}ms{mark}"
            )
            walk(s["span_id"], depth + 1)

    walk(None, 0)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m ail_sandbox.tracetree FILE TRACE_ID [--json]", file=sys.stderr)
        return 2
    path, trace_id = Path(argv[0]), argv[1].strip().lower()
    spans = read_trace(path, trace_id)
    if not spans:
        print(
            f"no spans of trace {trace_id} in {path}: check the id (32 hex digits, e.g. the"
            " trace_id of a log line), and wait a second (services send spans every second)",
            file=sys.stderr,
        )
        return 1
    if "--json" in argv[2:]:
        for s in spans:
            print(json.dumps(s, ensure_ascii=False))
        return 0
    services = sorted({s["service"] for s in spans})
    print(f"trace {trace_id}: {len(spans)} spans, services: {', '.join(services)}")
    print(render_tree(spans))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
