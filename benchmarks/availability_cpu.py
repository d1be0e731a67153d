"""CPU per availability check, by process (issue 16, fix 4): N checks straight to the customs
service (16 clients), with every stack process's CPU read from /proc before and after. A figure
per check that a loaded machine changes far less than a rate does.

    AIL_PROFILE=bench .venv/bin/python benchmarks/availability_cpu.py [N]

Needs the licenses ``run_all.py`` seeds (``BENCH0000001``...) for the first demo enterprise.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "shared"))

from benchmarks import customs_bench  # noqa: E402
from benchmarks._stack import stack_cpu_by_name, stack_env  # noqa: E402

WARM_UP = 50  # the checks availability_p99 makes before it times


def main() -> None:
    env = stack_env()
    demo = json.loads(Path(env["AIL_DEMO_FILE"]).read_text())
    key = demo["enterprises"][0]["api_key"]
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    before = stack_cpu_by_name(env)
    got = asyncio.run(customs_bench.availability_p99(env["AIL_CUSTOMS_SERVICE_URL"], key, 100_000, n, 16))
    after = stack_cpu_by_name(env)
    per = {k: round((after.get(k, 0.0) - before.get(k, 0.0)) / (n + WARM_UP) * 1e6) for k in after}
    print(
        json.dumps(
            {
                "checks": n,
                "per_s": round(got["per_s"]),
                "p99_ms": round(got["p99_ms"], 1),
                "cpu_us_per_check": {k: v for k, v in sorted(per.items()) if v > 5},
            }
        )
    )


if __name__ == "__main__":
    main()
