"""``python -m ail_shared.demo --out .devstack/<profile>/demo.json``: demo tenants and API keys.

Two enterprises, one agency that both authorised, and an operations key. Rerunning keeps the keys
already written to the output file while they are still valid, so scripts keep working.
Each of the four also gets a console sign-in (``ail_shared.sessions``): user name and password
in ``console`` of the output file; a rerun keeps the passwords written there (and unlocks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import asyncpg

from ail_shared.auth import new_api_key, split_api_key
from ail_shared.db import connect
from ail_shared.sessions import ensure_account

ENTERPRISES = (
    {"code": "1100776367555", "name": "北京示例进出口有限公司", "uscc": "91110000776367555X"},
    {"code": "3100123456789", "name": "上海示例贸易有限公司", "uscc": "913100001234567890"},
)
AGENCY = {"code": "AG0000000001", "name": "中国示例外贸代理有限公司"}
# Console accounts: (user name, kind, enterprise index or None, display name).
ACCOUNTS = (
    ("demo-ent-a", "enterprise", 0, "北京示例 操作员"),
    ("demo-ent-b", "enterprise", 1, "上海示例 操作员"),
    ("demo-agency", "agency", None, "代理 操作员"),
    ("demo-ops", "operations", None, "运维"),
)


async def _key_valid(conn: asyncpg.Connection, raw: str | None) -> bool:
    if not raw:
        return False
    try:
        key_id, _ = split_api_key(raw)
    except Exception:  # noqa: BLE001
        return False
    return bool(
        await conn.fetchval("SELECT 1 FROM iam.api_keys WHERE key_id = $1 AND revoked_at IS NULL", key_id)
    )


async def _issue(
    conn: asyncpg.Connection,
    kind: str,
    *,
    enterprise: str | None = None,
    agency: str | None = None,
    label: str,
) -> str:
    raw, key_id, digest = new_api_key()
    await conn.execute(
        "INSERT INTO iam.api_keys (key_id, secret_sha256, principal_kind, enterprise_code,"
        " agency_code, label) VALUES ($1, $2, $3, $4, $5, $6)",
        key_id,
        digest,
        kind,
        enterprise,
        agency,
        label,
    )
    return raw


async def seed(dsn: str, out: Path, entry_url: str) -> dict[str, Any]:
    previous: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    prev_keys = {e["code"]: e.get("api_key") for e in previous.get("enterprises", [])}
    conn = await connect(dsn)
    try:
        async with conn.transaction():
            for e in ENTERPRISES:
                await conn.execute(
                    "INSERT INTO iam.enterprises (code, name, uscc) VALUES ($1, $2, $3)"
                    " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name",
                    e["code"],
                    e["name"],
                    e["uscc"],
                )
            await conn.execute(
                "INSERT INTO iam.agencies (code, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                AGENCY["code"],
                AGENCY["name"],
            )
            for e in ENTERPRISES:
                await conn.execute(
                    "INSERT INTO iam.agency_authorizations (agency_code, enterprise_code)"
                    " VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    AGENCY["code"],
                    e["code"],
                )
            enterprises = []
            for e in ENTERPRISES:
                key = prev_keys.get(e["code"])
                if not await _key_valid(conn, key):
                    key = await _issue(conn, "enterprise", enterprise=e["code"], label="demo")
                enterprises.append({**e, "api_key": key})
            agency_key = previous.get("agency", {}).get("api_key")
            if not await _key_valid(conn, agency_key):
                agency_key = await _issue(conn, "agency", agency=AGENCY["code"], label="demo")
            ops_key = previous.get("operations", {}).get("api_key")
            if not await _key_valid(conn, ops_key):
                ops_key = await _issue(conn, "operations", label="demo operations")
            prev_passwords = {
                a.get("username"): a.get("password") for a in previous.get("console", {}).get("accounts", [])
            }
            accounts = []
            for username, kind, index, display in ACCOUNTS:
                password = prev_passwords.get(username) or secrets.token_urlsafe(12)
                await ensure_account(
                    conn,
                    username,
                    password,
                    kind,  # type: ignore[arg-type]
                    enterprise=ENTERPRISES[index]["code"] if index is not None else None,
                    agency=AGENCY["code"] if kind == "agency" else None,
                    display_name=display,
                )
                accounts.append({"username": username, "password": password, "kind": kind})
    finally:
        await conn.close()
    doc = {
        "entry_url": entry_url,
        "enterprises": enterprises,
        "agency": {
            **AGENCY,
            "api_key": agency_key,
            "acts_for": [e["code"] for e in ENTERPRISES],
            "header": "X-Enterprise-Code",
        },
        "operations": {"api_key": ops_key},
        "usage": "curl -H 'Authorization: Bearer <api_key>' <entry_url>/api/v1/applications",
        "console": {"url": f"{entry_url}/", "accounts": accounts},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=2))
    return doc


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    dsn = os.environ.get("AIL_PG_DSN")
    if not dsn:
        print("AIL_PG_DSN is not set (source .devstack/<profile>/env)", file=sys.stderr)
        return 2
    doc = asyncio.run(seed(dsn, args.out, os.environ.get("AIL_ENTRY_URL", "")))
    print(f"[demo] {len(doc['enterprises'])} enterprises, 1 agency; keys in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
