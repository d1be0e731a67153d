"""Authentication by API key and tenant scoping.

A key belongs to an enterprise (it acts for itself), to an agency (it acts for the enterprises
that authorised it and names one per request with ``X-Enterprise-Code``), or to operations.
Every query of tenant data filters on :attr:`Tenant.enterprise_codes`; an object outside it is
reported as not found (404), never as forbidden, so ids do not leak.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal

import asyncpg

from ail_shared.errors import Forbidden, InvalidInput, NotFound, Unauthenticated

ENTERPRISE_HEADER = "X-Enterprise-Code"
Kind = Literal["enterprise", "agency", "operations"]


@dataclass(frozen=True)
class Principal:
    key_id: str
    kind: Kind
    enterprise_code: str | None
    agency_code: str | None
    authorised: tuple[str, ...]  # enterprises this principal may act for

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.agency_code or self.enterprise_code or self.key_id}"


@dataclass(frozen=True)
class Tenant:
    """Who is asking and which enterprises this request may touch."""

    principal: Principal
    enterprise_codes: tuple[str, ...]

    @property
    def enterprise_code(self) -> str:
        """The one enterprise a write acts for; an agency must name it."""
        if len(self.enterprise_codes) != 1:
            raise InvalidInput(
                f"an agency must name the enterprise it acts for in the {ENTERPRISE_HEADER} header",
            )
        return self.enterprise_codes[0]

    def owns(self, enterprise_code: str) -> bool:
        return enterprise_code in self.enterprise_codes

    def check(self, enterprise_code: str | None, what: str = "object") -> None:
        if enterprise_code is None or not self.owns(enterprise_code):
            raise NotFound(f"{what} not found")


def new_api_key() -> tuple[str, str, bytes]:
    """(full key to hand out once, key id, sha256 of the secret to store)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return f"ail_{key_id}_{secret}", key_id, hashlib.sha256(secret.encode()).digest()


def split_api_key(raw: str) -> tuple[str, str]:
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "ail" or not parts[1] or not parts[2]:
        raise Unauthenticated("malformed API key: expected ail_<id>_<secret>")
    return parts[1], parts[2]


class ApiKeyAuthenticator:
    """Verifies keys against ``iam.api_keys`` with a short in-process cache."""

    def __init__(self, pool: asyncpg.Pool, cache_seconds: float = 30.0) -> None:
        self.pool = pool
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, bytes, Principal]] = {}

    async def principal(self, raw_key: str | None) -> Principal:
        if not raw_key:
            raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
        key_id, secret = split_api_key(raw_key)
        digest = hashlib.sha256(secret.encode()).digest()
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached and cached[0] > now:
            if not hmac.compare_digest(cached[1], digest):
                raise Unauthenticated("invalid API key")
            return cached[2]
        row = await self.pool.fetchrow(
            "SELECT key_id, secret_sha256, principal_kind, enterprise_code, agency_code"
            " FROM iam.api_keys WHERE key_id = $1 AND revoked_at IS NULL",
            key_id,
        )
        if row is None or not hmac.compare_digest(bytes(row["secret_sha256"]), digest):
            raise Unauthenticated("invalid API key")
        if row["principal_kind"] == "agency":
            codes = await self.pool.fetch(
                "SELECT enterprise_code FROM iam.agency_authorizations"
                " WHERE agency_code = $1 AND revoked_at IS NULL ORDER BY enterprise_code",
                row["agency_code"],
            )
            authorised = tuple(r["enterprise_code"] for r in codes)
        elif row["principal_kind"] == "enterprise":
            authorised = (row["enterprise_code"],)
        else:
            authorised = ()
        principal = Principal(
            key_id=row["key_id"],
            kind=row["principal_kind"],
            enterprise_code=row["enterprise_code"],
            agency_code=row["agency_code"],
            authorised=authorised,
        )
        self._cache[key_id] = (now + self.cache_seconds, digest, principal)
        return principal

    async def tenant(self, raw_key: str | None, named_enterprise: str | None) -> Tenant:
        p = await self.principal(raw_key)
        if named_enterprise:
            if named_enterprise not in p.authorised:
                raise Forbidden(f"{ENTERPRISE_HEADER} {named_enterprise} has not authorised this API key")
            return Tenant(p, (named_enterprise,))
        return Tenant(p, p.authorised)
