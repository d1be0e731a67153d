"""The longer schemathesis run (outside the suite): tests/e2e/test_schemathesis.py's sweep of the
merged OpenAPI document through the entry point, with ``-n`` cases per operation and generation
mode (the suite runs 15), then a table of what was sent and answered. Exit code 0 only with 0
server errors and 0 answers that break the document (the test's checks).

    AIL_PROFILE=<profile> AIL_PORT_BASE=<base> .venv/bin/python benchmarks/schemathesis_long.py [-n 100]

against a running stack of that profile (./dev up, or ./dev test --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--examples", type=int, default=100, help="cases per operation and mode")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "answers.jsonl"
        env = {
            **os.environ,
            "AIL_SCHEMATHESIS_EXAMPLES": str(args.examples),
            "AIL_SCHEMATHESIS_REPORT": str(report),
        }
        started = time.monotonic()
        test = "tests/e2e/test_schemathesis.py::test_no_server_error"
        result = subprocess.run(
            [str(REPO / ".venv" / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", test],
            cwd=REPO,
            env=env,
            check=False,
            capture_output=True,
            text=True,
        )
        took = time.monotonic() - started
        answers = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    statuses = Counter(a["status"] for a in answers)
    operations = {a["operation"] for a in answers}
    print(f"cases per operation and mode: {args.examples}")
    print(f"requests: {len(answers)} over {len(operations)} operations in {took:.0f} s")
    print("answers by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
    print(f"5xx answers: {sum(n for s, n in statuses.items() if s >= 500)}")
    print(result.stdout[-4000:])
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
