"""Issue 18, sign-in and sessions, through the entry point: sign-in, wrong password, lockout,
expiry, sign-out, CSRF, tenant scoping by session, the agency's switch. The session is checked
by the shared auth of every service, so the tests read from more than one service."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from ail_shared.sessions import CSRF_COOKIE, CSRF_HEADER, LOCK_AFTER_FAILURES, SESSION_COOKIE, ensure_account

PASSWORD = "correct horse battery staple"


@pytest.fixture
async def fresh_account(db: asyncpg.Pool, demo: dict[str, Any]) -> str:
    """A new account of enterprise A: lockout and expiry tests never lock the demo accounts."""
    username = f"t-{uuid.uuid4().hex[:12]}"
    async with db.acquire() as conn:
        await ensure_account(
            conn, username, PASSWORD, "enterprise", enterprise=demo["enterprises"][0]["code"]
        )
    return username


def account(demo: dict[str, Any], username: str) -> dict[str, str]:
    found: dict[str, str] = next(a for a in demo["console"]["accounts"] if a["username"] == username)
    return found


@contextlib.asynccontextmanager
async def signed_in(entry_url: str, username: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding the session cookie, sending the CSRF token as the console does."""
    async with httpx.AsyncClient(base_url=entry_url, timeout=30.0) as client:
        r = await client.post("/api/v1/session", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        client.headers[CSRF_HEADER] = r.json()["csrf_token"]
        yield client


@pytest.fixture
async def session_a(entry_url: str, demo: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(entry_url, "demo-ent-a", account(demo, "demo-ent-a")["password"]) as c:
        yield c


@pytest.fixture
async def session_b(entry_url: str, demo: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(entry_url, "demo-ent-b", account(demo, "demo-ent-b")["password"]) as c:
        yield c


async def test_sign_in_answers_a_strict_httponly_cookie_that_every_service_accepts(
    entry_url: str, demo: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(base_url=entry_url, timeout=30.0) as c:
        r = await c.post(
            "/api/v1/session",
            json={"username": "demo-ent-a", "password": account(demo, "demo-ent-a")["password"]},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        a = demo["enterprises"][0]
        assert body["kind"] == "enterprise" and body["acting_enterprise"] == a["code"]
        assert body["enterprises"] == [{"code": a["code"], "name": a["name"]}]
        cookies = r.headers.get_list("set-cookie")
        session = next(h for h in cookies if h.startswith(f"{SESSION_COOKIE}="))
        assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/" in session
        # the local stack is development: plain http, so not Secure (it is everywhere else)
        assert "Secure" not in session
        csrf = next(h for h in cookies if h.startswith(f"{CSRF_COOKIE}="))
        assert "HttpOnly" not in csrf and body["csrf_token"] in csrf
        assert (await c.get("/api/v1/session")).json()["username"] == "demo-ent-a"
        # the application, status and customs services all take the session (customs: the
        # license is not found for this tenant, where no credentials would be 401)
        for path in ("/api/v1/applications", "/api/v1/subscriptions"):
            assert (await c.get(path)).status_code == 200, path
        assert (await c.get("/api/v1/licenses/NO-SUCH-LICENSE")).status_code == 404
    async with httpx.AsyncClient(base_url=entry_url, timeout=30.0) as anonymous:
        r = await anonymous.get("/api/v1/applications")
        assert r.status_code == 401 and "sign in" in r.json()["error"]["message"]


async def test_a_wrong_password_is_refused_without_a_cookie(entry_url: str, fresh_account: str) -> None:
    async with httpx.AsyncClient(base_url=entry_url, timeout=30.0) as c:
        for username in (fresh_account, "no-such-user"):
            r = await c.post("/api/v1/session", json={"username": username, "password": "wrong"})
            assert r.status_code == 401, r.text
            assert r.json()["error"]["message"].startswith("wrong user name or password")
            assert not r.headers.get_list("set-cookie")
        r = await c.post("/api/v1/session", json={"username": "", "password": ""})
        assert r.status_code == 422
        assert {d["field"] for d in r.json()["error"]["details"]} == {"username", "password"}


async def test_repeated_failures_lock_the_account_even_for_the_right_password(
    entry_url: str, fresh_account: str, db: asyncpg.Pool
) -> None:
    async with httpx.AsyncClient(base_url=entry_url, timeout=30.0) as c:
        statuses = []
        for _ in range(LOCK_AFTER_FAILURES):
            r = await c.post("/api/v1/session", json={"username": fresh_account, "password": "guess"})
            statuses.append(r.status_code)
        assert statuses == [401] * (LOCK_AFTER_FAILURES - 1) + [429]
        r = await c.post("/api/v1/session", json={"username": fresh_account, "password": PASSWORD})
        assert r.status_code == 429 and r.json()["error"]["code"] == "account_locked", r.text
        assert "locked until" in r.json()["error"]["message"]
        # the lock ends by itself: move it into the past, as if the time had passed
        await db.execute(
            "UPDATE iam.operator_accounts SET locked_until = now() - interval '1 second' WHERE username = $1",
            fresh_account,
        )
        r = await c.post("/api/v1/session", json={"username": fresh_account, "password": PASSWORD})
        assert r.status_code == 200, r.text


async def test_an_expired_session_is_refused(entry_url: str, fresh_account: str, db: asyncpg.Pool) -> None:
    async with signed_in(entry_url, fresh_account, PASSWORD) as c:
        assert (await c.get("/api/v1/applications")).status_code == 200
        await db.execute(
            "UPDATE iam.operator_sessions SET expires_at = now() - interval '1 second' WHERE username = $1",
            fresh_account,
        )
        r = await c.get("/api/v1/applications")
        assert r.status_code == 401 and "expired" in r.json()["error"]["message"], r.text
        assert (await c.get("/api/v1/session")).status_code == 401


async def test_sign_out_ends_the_session_everywhere(entry_url: str, fresh_account: str) -> None:
    async with signed_in(entry_url, fresh_account, PASSWORD) as c:
        cookie = c.cookies[SESSION_COOKIE]
        r = await c.delete("/api/v1/session")
        assert r.status_code == 204, r.text
        assert any(h.startswith(f"{SESSION_COOKIE}=") for h in r.headers.get_list("set-cookie"))
    # the old cookie, kept by someone, no longer opens anything
    async with httpx.AsyncClient(base_url=entry_url, timeout=30.0, cookies={SESSION_COOKIE: cookie}) as old:
        for path in ("/api/v1/applications", "/api/v1/licenses/NO-SUCH-LICENSE", "/api/v1/session"):
            assert (await old.get(path)).status_code == 401, path


async def test_a_cookie_write_without_its_csrf_token_is_refused(session_a: httpx.AsyncClient) -> None:
    token = session_a.headers.pop(CSRF_HEADER)
    r = await session_a.post("/api/v1/applications", json={})
    assert r.status_code == 403 and CSRF_HEADER in r.json()["error"]["message"], r.text
    r = await session_a.post("/api/v1/applications", json={}, headers={CSRF_HEADER: token[:-2] + "xx"})
    assert r.status_code == 403, r.text
    r = await session_a.delete("/api/v1/session")
    assert r.status_code == 403, r.text
    r = await session_a.post("/api/v1/applications", json={}, headers={CSRF_HEADER: token})
    assert r.status_code == 201, r.text


async def test_a_session_sees_only_its_enterprise(
    session_a: httpx.AsyncClient, session_b: httpx.AsyncClient
) -> None:
    r = await session_a.post("/api/v1/applications", json={})
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    assert (await session_a.get(f"/api/v1/applications/{app_id}")).status_code == 200
    r = await session_b.get(f"/api/v1/applications/{app_id}")
    assert r.status_code == 404, r.text
    assert (await session_b.get(f"/api/v1/applications/{app_id}/history")).status_code == 404
    assert (await session_b.delete(f"/api/v1/applications/{app_id}")).status_code == 404
    assert (await session_a.get(f"/api/v1/applications/{app_id}")).status_code == 200


async def test_the_agency_switches_the_enterprise_it_acts_for(entry_url: str, demo: dict[str, Any]) -> None:
    a, b = (e["code"] for e in demo["enterprises"])
    async with signed_in(entry_url, "demo-agency", account(demo, "demo-agency")["password"]) as c:
        me = (await c.get("/api/v1/session")).json()
        assert me["kind"] == "agency" and {e["code"] for e in me["enterprises"]} == {a, b}
        r = await c.put("/api/v1/session/enterprise", json={"enterprise_code": b})
        assert r.status_code == 200 and r.json()["acting_enterprise"] == b, r.text
        created = await c.post("/api/v1/applications", json={})
        assert created.status_code == 201, created.text
        app_id = created.json()["id"]
        assert created.json()["enterprise_code"] == b
        r = await c.put("/api/v1/session/enterprise", json={"enterprise_code": a})
        assert r.json()["acting_enterprise"] == a
        # now acting for A, B's application is another tenant's
        assert (await c.get(f"/api/v1/applications/{app_id}")).status_code == 404
        r = await c.put("/api/v1/session/enterprise", json={"enterprise_code": "9999999999999"})
        assert r.status_code == 403, r.text
        r = await c.put("/api/v1/session/enterprise", json={"enterprise_code": b})
        assert (await c.get(f"/api/v1/applications/{app_id}")).status_code == 200
