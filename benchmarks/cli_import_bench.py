"""``ail import`` of a 10,000-row workbook against the API's raw create rate, in the same run.

Raw: the same requests the import makes for a row (POST /api/v1/applications with an
Idempotency-Key, PUT its contract), sent straight with httpx at the same concurrency. CLI: the
real ``ail`` process, end to end (reading and checking every row, sending, writing the results
workbook). Memory: the CLI's peak RSS for the full workbook and for a tenth of it; flat means
about the same.

    AIL_PROFILE=bench .venv/bin/python benchmarks/cli_import_bench.py [--rows 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _stack import stack_env  # noqa: E402  (the one env-file reader)

from ail_cli.checks import contract_body  # noqa: E402
from tests.e2e.cli.support import ENTERPRISE, application, contract, goods, write_workbook  # noqa: E402


def _demo(env: dict[str, str]) -> dict[str, Any]:
    state = Path(env.get("AIL_DEVSTACK_DIR", REPO / ".devstack" / os.environ.get("AIL_PROFILE", "dev")))
    data: dict[str, Any] = json.loads((state / "demo.json").read_text())
    return data


async def raw_rate(url: str, key: str, rows: int, concurrency: int) -> float:
    token = uuid.uuid4().hex[:8]
    headers = {"Authorization": f"Bearer {key}", "X-Enterprise-Code": ENTERPRISE}
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60.0) as c:

        async def one(i: int) -> None:
            app = application(i, token)
            body = {
                k: v for k, v in app.items() if k not in ("reference", "enterprise_code", "customs_port_1")
            }
            line = {k: v for k, v in goods(i, token).items() if k != "reference"}
            body.update(customs_ports=[app["customs_port_1"]], goods=[line])
            async with sem:
                r = await c.post(
                    "/api/v1/applications", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
                )
                assert r.status_code == 201, r.text
                app_id = r.json()["id"]
                put = await c.put(
                    f"/api/v1/applications/{app_id}/contract", json=contract_body(contract(i, token))
                )
                assert put.status_code == 200, put.text

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(rows)))
        return rows / (time.monotonic() - started)


def cli_run(
    url: str, key: str, rows: int, concurrency: int, folder: Path
) -> tuple[float, float, dict[str, Any]]:
    """(rows/s end to end, peak RSS in MB, the --json summary) of one ail import process."""
    book = folder / f"bench-{rows}.xlsx"
    write_workbook(book, rows)
    env = {**os.environ, "AIL_URL": url, "AIL_API_KEY": key, "AIL_CONFIG_DIR": str(folder / "cfg")}
    # Peak RSS of exactly this child: run it through a small wrapper that reports its own
    # RUSAGE_CHILDREN after waiting for ail (our own RUSAGE_CHILDREN would mix runs).
    wrapper = (
        "import resource, subprocess, sys; cp = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        " sys.stdout.write(cp.stdout);"
        " sys.stderr.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss));"
        " sys.exit(cp.returncode)"
    )
    started = time.monotonic()
    cp = subprocess.run(
        [
            sys.executable,
            "-c",
            wrapper,
            str(REPO / ".venv" / "bin" / "ail"),
            "import",
            str(book),
            "--concurrency",
            str(concurrency),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    summary = json.loads(cp.stdout or "{}")
    if cp.returncode != 0 or summary.get("created") != rows:
        sys.exit(f"ail import failed ({cp.returncode}): {cp.stdout[:2000]}")
    return rows / seconds, int(cp.stderr.strip().splitlines()[-1]) / 1024, summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument(
        "--raw-rows", type=int, default=2_000, help="rows for the raw rate (a rate needs no more)"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    env = stack_env()
    url = env["AIL_ENTRY_URL"]
    key = _demo(env)["agency"]["api_key"]
    with tempfile.TemporaryDirectory(prefix="ail-cli-bench-") as tmp:
        folder = Path(tmp)
        raw_before = asyncio.run(raw_rate(url, key, args.raw_rows // 2, args.concurrency))
        cli_rate, cli_rss, _ = cli_run(url, key, args.rows, args.concurrency, folder)
        raw_after = asyncio.run(raw_rate(url, key, args.raw_rows // 2, args.concurrency))
        small = max(1, args.rows // 10)
        small_rate, small_rss, _ = cli_run(url, key, small, args.concurrency, folder)
    raw = (raw_before + raw_after) / 2
    figures = {
        "rows": args.rows,
        "concurrency": args.concurrency,
        "raw_rows_per_s": round(raw, 1),
        "raw_before_after": [round(raw_before, 1), round(raw_after, 1)],
        "cli_rows_per_s": round(cli_rate, 1),
        "cli_share_of_raw": round(cli_rate / raw, 3),
        "cli_peak_rss_mb": round(cli_rss, 1),
        f"cli_peak_rss_mb_{small}_rows": round(small_rss, 1),
        f"cli_rows_per_s_{small}_rows": round(small_rate, 1),
        "goal": "cli >= 80% of raw; peak RSS about the same for both sizes",
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
