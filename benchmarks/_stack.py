"""Find the running stack for a benchmark: AIL_* variables, else .devstack/<profile>/env."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def stack_env() -> dict[str, str]:
    if os.environ.get("AIL_PG_DSN") and os.environ.get("AIL_KAFKA_BOOTSTRAP"):
        return dict(os.environ)
    for profile in (os.environ.get("AIL_PROFILE"), "dev", "test"):
        if not profile:
            continue
        env_file = REPO / ".devstack" / profile / "env"
        if env_file.exists():
            env = {}
            for line in env_file.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.removeprefix("export ").split("=", 1)
                    env[k] = v.strip().strip("'\"")
            return env
    sys.exit("no running stack found: start one with ./dev up (or ./dev test --keep)")
