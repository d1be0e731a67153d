"""After the run: each application as every party shows it. Public API (application, its
status history, its license with the ledger, the license's customs history), the MOFCOM
sandbox's own view of its submissions, and read-only SQL over the services' tables for the
duplicate counts that no API lists (signatures, ledger rows, license rows, submissions)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from benchmarks.chaos_harness.stack import Stack, Unreachable, call


@dataclass
class Facts:
    """One application as the parties show it (``None``: could not be read)."""

    app: dict[str, Any] | None = None
    history: dict[str, Any] | None = None
    license: dict[str, Any] | None = None
    license_history: dict[str, Any] | None = None
    mofcom: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Database:
    """Read-only counts from the services' own tables, per application id."""

    submissions: dict[str, int] = field(default_factory=dict)  # submission.submissions rows
    signed: dict[str, int] = field(default_factory=dict)  # signer.signatures 'signed' rows
    signed_twice: list[str] = field(default_factory=list)  # submission ids signed more than once
    licenses: dict[str, int] = field(default_factory=dict)  # customs.licenses rows
    ledger_repeats: list[str] = field(default_factory=list)  # (license, declaration, kind) twice


async def gather(
    stack: Stack, ids: list[str], concurrency: int = 12, progress: Callable[[int], None] | None = None
) -> dict[str, Facts]:
    out: dict[str, Facts] = {}
    sem = asyncio.Semaphore(concurrency)
    done = 0
    async with stack.agency(timeout=60) as api, stack.mofcom() as mofcom:

        async def get(
            client: httpx.AsyncClient, path: str, facts: Facts, **params: Any
        ) -> dict[str, Any] | None:
            try:
                r = await call(client, "GET", path, params=params or None, deadline=120)
            except (httpx.HTTPError, Unreachable) as exc:
                facts.errors.append(f"GET {path}: {exc}")
                return None
            if r.status_code != 200:
                facts.errors.append(f"GET {path}: HTTP {r.status_code} {r.text[:200]}")
                return None
            body: dict[str, Any] = r.json()
            return body

        async def one(app_id: str) -> None:
            nonlocal done
            async with sem:
                f = Facts()
                f.app = await get(api, f"/api/v1/applications/{app_id}", f)
                f.history = await get(api, f"/api/v1/applications/{app_id}/history", f)
                license_no = (f.app or {}).get("license_no")
                if license_no:
                    f.license = await get(api, f"/api/v1/licenses/{license_no}", f)
                    f.license_history = await get(api, "/api/v1/history", f, license_no=license_no)
                sandbox = await get(mofcom, f"/control/applications/{app_id}", f)
                f.mofcom = list((sandbox or {}).get("submissions", []))
                out[app_id] = f
                done += 1
                if progress and done % 200 == 0:
                    progress(done)

        await asyncio.gather(*(one(i) for i in ids))
    return out


async def mofcom_keys_created_twice(stack: Stack) -> list[str]:
    """Idempotency keys for which the MOFCOM sandbox created more than one submission."""
    async with stack.mofcom() as mofcom:
        r = await call(mofcom, "GET", "/control/received")
    subs = r.json().get("submissions", {})
    return [k for k, v in subs.items() if int(v.get("created", 0)) > 1]


async def database(conn: asyncpg.Connection, ids: list[str], license_nos: list[str]) -> Database:
    db = Database()
    rows = await conn.fetch(
        "SELECT application_id::text AS id, count(*) AS n FROM submission.submissions"
        " WHERE application_id = ANY($1::uuid[]) GROUP BY 1",
        ids,
    )
    db.submissions = {r["id"]: r["n"] for r in rows}
    rows = await conn.fetch(
        "SELECT application_id AS id, submission_id, count(*) AS n FROM signer.signatures"
        " WHERE application_id = ANY($1::text[]) AND outcome = 'signed' GROUP BY 1, 2",
        ids,
    )
    for r in rows:
        db.signed[r["id"]] = db.signed.get(r["id"], 0) + 1
        if r["n"] > 1:
            db.signed_twice.append(f"submission {r['submission_id']} of {r['id']} signed {r['n']} times")
    rows = await conn.fetch(
        "SELECT application_id AS id, count(*) AS n FROM customs.licenses"
        " WHERE application_id = ANY($1::text[]) GROUP BY 1",
        ids,
    )
    db.licenses = {r["id"]: r["n"] for r in rows}
    rows = await conn.fetch(
        "SELECT license_no, declaration_no, kind, count(*) AS n FROM customs.ledger_entries"
        " WHERE license_no = ANY($1::text[]) GROUP BY 1, 2, 3 HAVING count(*) > 1",
        license_nos,
    )
    db.ledger_repeats = [f"{r['license_no']} {r['kind']} of {r['declaration_no']} x{r['n']}" for r in rows]
    return db


async def connect_read_only(dsn: str) -> asyncpg.Connection:
    """The harness only reads the services' tables: a read-only session enforces it."""
    conn: asyncpg.Connection = await asyncpg.connect(
        dsn, server_settings={"default_transaction_read_only": "on", "application_name": "chaos-harness"}
    )
    return conn
