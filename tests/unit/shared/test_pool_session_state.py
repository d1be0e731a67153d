"""Issue 16, fix 1: the asyncpg pool no longer resets a connection on release (no
``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` round trip per use), which is only
right while no pooled connection takes session state. This reads the code for every statement
that would: LISTEN, a session advisory lock, a session ``SET`` / ``set_config(..., false)``, a
cursor held past its transaction, a temporary table. Those may only appear in the modules that
open connections of their own (``ail_shared.db.connect``), never on the pool."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from ail_shared import db

ROOT = Path(__file__).resolve().parents[3]
# Modules whose session state lives on a connection of their own (``connect``), never pooled:
# the outbox relay (its leader lock and LISTEN) and the status service's notifications (LISTEN).
OWN_CONNECTIONS = {
    "shared/ail_shared/outbox.py",
    "services/status/ail_status/adapters/notifications.py",
}
SESSION_SQL = [
    re.compile(r"^\s*LISTEN\s", re.I),
    re.compile(r"\bpg_(try_)?advisory_lock(_shared)?\s*\(", re.I),
    re.compile(r"\bset_config\s*\([^)]*,\s*false\s*\)", re.I),
    re.compile(r"\bWITH\s+HOLD\b", re.I),
    re.compile(r"\bCREATE\s+(TEMP|TEMPORARY)\b", re.I),
]
# A statement that starts with SET (not SET LOCAL / SET TRANSACTION / SET CONSTRAINTS, which end
# with their transaction) changes the session.
SESSION_SET = re.compile(r"^\s*SET\s+(?!LOCAL\b|TRANSACTION\b|CONSTRAINTS\b|SESSION\s+CHARACTERISTICS)", re.I)
SESSION_CALLS = {"add_listener", "add_log_listener"}


def _sources() -> list[Path]:
    found: list[Path] = []
    for top in ("shared", "services", "sandbox"):
        found += [p for p in (ROOT / top).rglob("*.py") if "/tests/" not in str(p) and ".venv" not in p.parts]
    return found


def _findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            for pattern in SESSION_SQL:
                if pattern.search(text):
                    out.append(f"line {node.lineno}: {pattern.pattern}")
            if SESSION_SET.match(text):
                out.append(f"line {node.lineno}: session SET")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in SESSION_CALLS:
                out.append(f"line {node.lineno}: {node.func.attr}()")
    return out


def test_no_pooled_code_takes_session_state() -> None:
    bad = {}
    for path in _sources():
        rel = str(path.relative_to(ROOT))
        if rel in OWN_CONNECTIONS:
            continue
        found = _findings(path)
        if found:
            bad[rel] = found
    assert not bad, (
        "session state on a pooled connection (the pool does not reset on release: ail_shared.db); "
        f"open a connection of its own with ail_shared.db.connect: {bad}"
    )


def test_the_own_connection_modules_do_not_use_the_pool_for_it() -> None:
    for rel in OWN_CONNECTIONS:
        text = (ROOT / rel).read_text(encoding="utf-8")
        assert "connect(" in text, rel
        assert "pool.acquire" not in text and "create_pool" not in text, rel


def test_the_scan_sees_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "async def f(conn):\n"
        "    await conn.execute('SET statement_timeout = 1000')\n"
        "    await conn.execute('SELECT pg_advisory_lock(1)')\n"
        "    await conn.execute(\"SELECT set_config('a.b', 'c', false)\")\n"
        "    await conn.add_listener('ch', print)\n"
        "    await conn.execute('LISTEN ail_outbox')\n"
        "    await conn.execute('SET LOCAL lock_timeout = 10')\n"
        "    await conn.execute('SELECT pg_advisory_xact_lock(1)')\n",
        encoding="utf-8",
    )
    assert len(_findings(sample)) == 5


async def test_the_pool_releases_without_the_reset_query(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    async def fake_create_pool(dsn: str, **kwargs: Any) -> object:
        seen.update(kwargs)
        return object()

    monkeypatch.setattr(db.asyncpg, "create_pool", fake_create_pool)
    await db.create_pool("postgresql://x")
    assert seen["reset"] is db._keep_session
    sent: list[str] = []

    class Conn:
        async def execute(self, sql: str) -> None:
            sent.append(sql)

    await seen["reset"](Conn())
    assert sent == []  # no round trip on release
