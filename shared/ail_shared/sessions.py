"""Operator accounts and browser sessions, beside API keys (issue 18).

An operator signs in with a user name and password (argon2id, ``argon2-cffi``) and gets the
session cookie :data:`SESSION_COOKIE` (HttpOnly, SameSite=Strict, Secure outside development).
Every service accepts the session exactly as an API key: :func:`ail_shared.http.get_tenant`
reads the cookie when no key is sent and builds the same :class:`~ail_shared.auth.Tenant`.

- An account belongs to an enterprise, an agency or operations, like a key. An agency's session
  carries the one enterprise it chose in the console's switcher (:meth:`SessionStore.switch`),
  the way an agency's key names one per request with ``X-Enterprise-Code``.
- Writes authenticated by the cookie carry the CSRF token in :data:`CSRF_HEADER` (the token is
  also in the readable cookie :data:`CSRF_COOKIE`: double submit; and the session stores its
  hash, so a token of another session is refused too). Reads need none.
- Failed sign-ins in a row are slowed (:func:`failure_delay`) and, from
  :data:`LOCK_AFTER_FAILURES`, lock the account for :data:`LOCK_SECONDS`. A right password
  during the lock is refused too, so guessing gains nothing.
- Sessions end at ``expires_at`` (:data:`SESSION_SECONDS` after sign-in) or at sign-out; both
  are checked on every request (no cache), like a revoked key.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ail_shared.auth import ENTERPRISE_HEADER, Kind, Principal, Tenant
from ail_shared.errors import AilError, Forbidden, Unauthenticated

SESSION_COOKIE = "ail_session"
CSRF_COOKIE = "ail_csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 8 * 3600  # one working day
LOCK_AFTER_FAILURES = 5
LOCK_SECONDS = 15 * 60
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# argon2id at OWASP's first recommended setting (19 MiB, t=2, p=1): every sign-in pays it on a
# service's CPU, and the lockout bounds online guessing anyway. Stored hashes name their own
# parameters, and a sign-in rehashes when these change (check_needs_rehash).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the user name is unknown, so the answer takes as long either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Locked(AilError):
    status_code = 429
    code = "account_locked"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def failure_delay(failures_in_a_row: int) -> float:
    """Seconds a wrong password waits before it is answered: grows with each failure in a row
    (0.25 s, 0.5 s, ... at most 2 s), so guessing is slow long before the lock."""
    return float(min(2.0, 0.25 * max(1, failures_in_a_row)))


def _sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def split_session_cookie(raw: str) -> tuple[str, str]:
    sid, _, secret = raw.strip().partition(".")
    # Checked before the look-up: a session id is 24 hex digits, so no odd byte reaches SQL.
    if not re.fullmatch(r"[0-9a-f]{24}", sid) or not re.fullmatch(r"[A-Za-z0-9_-]{20,100}", secret):
        raise Unauthenticated("malformed session cookie: sign in again")
    return sid, secret


@dataclass(frozen=True)
class Account:
    username: str
    kind: Kind
    enterprise_code: str | None
    agency_code: str | None
    display_name: str
    authorised: tuple[str, ...]


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    account: Account
    acting_enterprise: str | None
    expires_at: datetime

    def principal(self) -> Principal:
        a = self.account
        return Principal(
            key_id=f"session:{self.session_id}",
            kind=a.kind,
            enterprise_code=a.enterprise_code,
            agency_code=a.agency_code,
            authorised=a.authorised,
        )


@dataclass(frozen=True)
class NewSession:
    """What sign-in hands out once: the cookie value and the CSRF token."""

    cookie: str
    csrf_token: str
    info: SessionInfo


_ACCOUNT_COLUMNS = """
a.username, a.principal_kind, a.enterprise_code, a.agency_code, a.display_name,
CASE WHEN a.principal_kind = 'agency' THEN ARRAY(
    SELECT z.enterprise_code FROM iam.agency_authorizations z
    WHERE z.agency_code = a.agency_code AND z.revoked_at IS NULL ORDER BY z.enterprise_code)
END AS authorised
"""

ACCOUNT_FOR_SIGN_IN = f"""
SELECT {_ACCOUNT_COLUMNS}, a.password_hash, a.failed_attempts, a.locked_until,
       a.locked_until > now() AS locked, now() AS now
FROM iam.operator_accounts a WHERE a.username = $1 AND a.disabled_at IS NULL
FOR UPDATE OF a
"""

# One round trip per request, like PRINCIPAL_OF_KEY: the live session, its account, and an
# agency's current authorisations.
SESSION_LOOKUP = f"""
SELECT s.session_id, s.secret_sha256, s.csrf_sha256, s.acting_enterprise, s.expires_at,
       {_ACCOUNT_COLUMNS}
FROM iam.operator_sessions s JOIN iam.operator_accounts a USING (username)
WHERE s.session_id = $1 AND s.signed_out_at IS NULL AND s.expires_at > now()
  AND a.disabled_at IS NULL
"""


def _account(row: asyncpg.Record) -> Account:
    kind: Kind = row["principal_kind"]
    if kind == "agency":
        authorised = tuple(row["authorised"] or ())
    elif kind == "enterprise":
        authorised = (row["enterprise_code"],)
    else:
        authorised = ()
    return Account(
        username=row["username"],
        kind=kind,
        enterprise_code=row["enterprise_code"],
        agency_code=row["agency_code"],
        display_name=row["display_name"],
        authorised=authorised,
    )


class SessionStore:
    """Sign-in, look-up, switch and sign-out against ``iam.operator_*``."""

    def __init__(self, pool: asyncpg.Pool, *, session_seconds: int = SESSION_SECONDS) -> None:
        self.pool = pool
        self.session_seconds = session_seconds

    async def sign_in(self, username: str, password: str) -> NewSession:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(ACCOUNT_FOR_SIGN_IN, username)
            if row is None:
                # argon2 takes tens of milliseconds of CPU: off the event loop
                await asyncio.to_thread(_verify, _DUMMY_HASH, password)
                failures = 1
                ok = False
            elif row["locked"]:
                raise Locked(
                    "too many failed sign-ins: the account is locked until"
                    f" {row['locked_until'].isoformat()}; try again then, or ask operations to unlock it"
                )
            else:
                ok = await asyncio.to_thread(_verify, row["password_hash"], password)
                failures = 0 if ok else row["failed_attempts"] + 1
                locked_until = (
                    row["now"] + timedelta(seconds=LOCK_SECONDS) if failures >= LOCK_AFTER_FAILURES else None
                )
                await conn.execute(
                    "UPDATE iam.operator_accounts SET failed_attempts = $2, locked_until = $3"
                    " WHERE username = $1",
                    username,
                    0 if failures >= LOCK_AFTER_FAILURES else failures,
                    locked_until,
                )
                if ok and _hasher.check_needs_rehash(row["password_hash"]):
                    await conn.execute(
                        "UPDATE iam.operator_accounts SET password_hash = $2 WHERE username = $1",
                        username,
                        hash_password(password),
                    )
            if ok and row is not None:
                sid = secrets.token_hex(12)
                secret = secrets.token_urlsafe(32)
                csrf = secrets.token_urlsafe(32)
                account = _account(row)
                acting = account.authorised[0] if account.kind == "agency" and account.authorised else None
                expires_at = await conn.fetchval(
                    "INSERT INTO iam.operator_sessions (session_id, secret_sha256, csrf_sha256, username,"
                    " acting_enterprise, expires_at) VALUES ($1, $2, $3, $4, $5,"
                    " now() + make_interval(secs => $6)) RETURNING expires_at",
                    sid,
                    _sha(secret),
                    _sha(csrf),
                    username,
                    acting,
                    float(self.session_seconds),
                )
                return NewSession(f"{sid}.{secret}", csrf, SessionInfo(sid, account, acting, expires_at))
        # Answered after the transaction, so the slow answer holds no row lock.
        await asyncio.sleep(failure_delay(failures))
        if failures >= LOCK_AFTER_FAILURES:
            raise Locked(
                f"{LOCK_AFTER_FAILURES} failed sign-ins in a row: the account is locked for"
                f" {LOCK_SECONDS // 60} minutes; try again then, or ask operations to unlock it"
            )
        raise Unauthenticated("wrong user name or password: check both and try again")

    async def lookup(self, cookie: str, *, method: str, csrf_token: str | None) -> SessionInfo:
        sid, secret = split_session_cookie(cookie)
        row = await self.pool.fetchrow(SESSION_LOOKUP, sid)
        if row is None or not hmac.compare_digest(bytes(row["secret_sha256"]), _sha(secret)):
            raise Unauthenticated("the session has ended (signed out or expired): sign in again")
        if method.upper() not in SAFE_METHODS and (
            not csrf_token or not hmac.compare_digest(bytes(row["csrf_sha256"]), _sha(csrf_token))
        ):
            raise Forbidden(
                f"a write with the session cookie must carry its CSRF token in {CSRF_HEADER}"
                f" (the value of the {CSRF_COOKIE} cookie)"
            )
        account = _account(row)
        acting = row["acting_enterprise"]
        # An authorisation revoked since the switch ends the agency's right at once.
        if acting is not None and acting not in account.authorised:
            acting = None
        return SessionInfo(row["session_id"], account, acting, row["expires_at"])

    async def tenant(
        self, cookie: str, *, method: str, csrf_token: str | None, named_enterprise: str | None
    ) -> Tenant:
        """The same scoping as :meth:`ApiKeyAuthenticator.tenant`, with an agency's chosen
        enterprise standing for ``X-Enterprise-Code`` when the request names none."""
        info = await self.lookup(cookie, method=method, csrf_token=csrf_token)
        p = info.principal()
        named = named_enterprise or info.acting_enterprise
        if named:
            if named not in p.authorised:
                raise Forbidden(f"{ENTERPRISE_HEADER} {named} has not authorised this account")
            return Tenant(p, (named,))
        return Tenant(p, p.authorised)

    async def switch(self, info: SessionInfo, enterprise_code: str) -> SessionInfo:
        if info.account.kind != "agency":
            raise Forbidden("only an agency's session chooses the enterprise it acts for")
        if enterprise_code not in info.account.authorised:
            raise Forbidden(
                f"enterprise {enterprise_code} has not authorised agency {info.account.agency_code}"
            )
        await self.pool.execute(
            "UPDATE iam.operator_sessions SET acting_enterprise = $2 WHERE session_id = $1",
            info.session_id,
            enterprise_code,
        )
        return SessionInfo(info.session_id, info.account, enterprise_code, info.expires_at)

    async def enterprise_names(self, codes: tuple[str, ...]) -> dict[str, str]:
        rows = await self.pool.fetch(
            "SELECT code, name FROM iam.enterprises WHERE code = ANY($1)", list(codes)
        )
        return {r["code"]: r["name"] for r in rows}

    async def sign_out(self, info: SessionInfo) -> None:
        await self.pool.execute(
            "UPDATE iam.operator_sessions SET signed_out_at = now()"
            " WHERE session_id = $1 AND signed_out_at IS NULL",
            info.session_id,
        )


def _verify(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def ensure_account(
    conn: asyncpg.Connection,
    username: str,
    password: str,
    kind: Kind,
    *,
    enterprise: str | None = None,
    agency: str | None = None,
    display_name: str = "",
) -> None:
    """Create or reset an account (demo data, operations); unlocks it."""
    await conn.execute(
        "INSERT INTO iam.operator_accounts (username, password_hash, principal_kind, enterprise_code,"
        " agency_code, display_name) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash,"
        " failed_attempts = 0, locked_until = NULL, disabled_at = NULL",
        username,
        hash_password(password),
        kind,
        enterprise,
        agency,
        display_name,
    )
