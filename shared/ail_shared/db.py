"""asyncpg pool and the migrations runner.

Each service owns one PostgreSQL schema (named after the service). Its numbered SQL files in
``services/<service>/migrations/NNNN_name.sql`` are applied in order, once, and recorded in
``<schema>.schema_migrations``. Before them, the runner applies the messaging tables every
service has (outbox, inbox, idempotency keys) from ``shared/migrations/common``, with the schema
name substituted. ``shared/migrations/iam`` holds the API keys and tenancy tables (schema ``iam``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_MIGRATIONS = REPO_ROOT / "shared" / "migrations"
SERVICES = ("application", "submission", "status", "customs", "signer", "stats")
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]*$")


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(
            typ,
            encoder=lambda v: json.dumps(v, default=str),
            decoder=json.loads,
            schema="pg_catalog",
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release, in place of asyncpg's default ``Connection.reset`` (issue 16,
    fix 1). The default sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``
    on every release: one round trip per connection use (6% of the customs service's CPU on the
    availability check). No pooled connection takes session state: LISTEN and the session
    advisory lock are on connections of their own (``connect``: the outbox relay, the status
    service's notifications), nothing pooled runs a session ``SET``, cursors are transaction-bound;
    ``tests/unit/shared/test_pool_session_state.py`` checks the code for it. asyncpg still rolls back a
    transaction left open and drops listeners before calling this, so nothing leaks across uses."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
    )
    assert pool is not None
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, timeout=10)
    await _init_connection(conn)
    return conn


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    def sql(self, schema: str) -> str:
        return self.path.read_text(encoding="utf-8").replace("{schema}", schema)


def migrations_in(folder: Path, prefix: str = "") -> list[Migration]:
    if not folder.is_dir():
        return []
    found = []
    for p in sorted(folder.iterdir()):
        m = _NAME.match(p.name)
        if m:
            found.append(Migration(version=f"{prefix}{p.stem}", path=p))
    return found


def plan(schema: str) -> list[Migration]:
    """Migrations for one schema, common ones first."""
    if schema == "iam":
        return migrations_in(SHARED_MIGRATIONS / "iam")
    return migrations_in(SHARED_MIGRATIONS / "common", "common:") + migrations_in(
        REPO_ROOT / "services" / schema / "migrations"
    )


async def migrate_schema(conn: asyncpg.Connection, schema: str) -> list[str]:
    """Apply the pending migrations of ``schema``; return the versions applied."""
    if not _SCHEMA.match(schema):
        raise ValueError(f"bad schema name {schema!r}")
    applied: list[str] = []
    # One lock for all runners: two services starting at once must not race.
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ail-migrations'))")
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch(f"SELECT version FROM {schema}.schema_migrations")}
        for mig in plan(schema):
            if mig.version in done:
                continue
            try:
                await conn.execute(mig.sql(schema))
            except asyncpg.PostgresError as exc:
                raise RuntimeError(f"migration {schema}/{mig.path.name} failed: {exc}") from exc
            await conn.execute(f"INSERT INTO {schema}.schema_migrations (version) VALUES ($1)", mig.version)
            applied.append(mig.version)
    return applied


async def migrate_all(dsn: str, schemas: tuple[str, ...] = ("iam", *SERVICES)) -> dict[str, Any]:
    conn = await connect(dsn)
    try:
        return {schema: await migrate_schema(conn, schema) for schema in schemas}
    finally:
        await conn.close()
