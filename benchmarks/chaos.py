"""Chaos harness: N complete applications (default 2,000) from HTTP through signing, both
MOFCOM reviews, license issue, delivery to Customs and a clearance, while every service, the
signer, Kafka and PostgreSQL are SIGKILLed in turn (``--kills`` times each, back after a random
downtime) and the sandboxes' fault modes come and go. Then it waits for quiet and checks, in a
table: every application final or visibly waiting with a reason; 0 duplicate form numbers,
license numbers, MOFCOM submissions, signatures, ledger entries; every history in order; each
webhook event delivered (counted); statistics equal to SQL; 0 valid events in dead-letter
topics. Exit code 0 only when every check holds.

    AIL_PROFILE=<profile> AIL_PORT_BASE=<base> .venv/bin/python benchmarks/chaos.py [-n 2000] [--kills 3]

against a running stack of that profile (./dev up, or ./dev test --keep). Baseline without
chaos: ``--kills 0 --no-faults``. ``--help`` lists every option.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.chaos_harness import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], __doc__ or ""))
