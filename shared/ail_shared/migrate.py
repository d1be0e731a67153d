"""``python -m ail_shared.migrate [schema ...]``: apply pending migrations (all schemas by default)."""

from __future__ import annotations

import asyncio
import os
import sys

from ail_shared.db import SERVICES, migrate_all


def main(argv: list[str]) -> int:
    dsn = os.environ.get("AIL_PG_DSN")
    if not dsn:
        print("AIL_PG_DSN is not set (source .devstack/<profile>/env or run ./dev up)", file=sys.stderr)
        return 2
    schemas = tuple(argv) or ("iam", *SERVICES)
    try:
        result = asyncio.run(migrate_all(dsn, schemas))
    except (OSError, RuntimeError) as exc:
        print(f"migrations failed: {exc}", file=sys.stderr)
        return 1
    for schema, applied in result.items():
        print(f"[migrate] {schema}: {', '.join(applied) if applied else 'up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
