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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import Depends, Header, Request
from pydantic import SecretStr

from ail_shared.errors import Forbidden, InvalidInput, Unauthenticated

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


# One round trip per request: the key and, for an agency, the enterprises that authorise it now.
# Its columns are named auth_*, so that a route's row read beside it (``tenant_and``) keeps its own.
PRINCIPAL_OF_KEY = """
SELECT k.key_id AS auth_key_id, k.secret_sha256 AS auth_secret_sha256, k.principal_kind AS auth_kind,
       k.enterprise_code AS auth_enterprise_code, k.agency_code AS auth_agency_code,
       CASE WHEN k.principal_kind = 'agency' THEN ARRAY(
           SELECT a.enterprise_code FROM iam.agency_authorizations a
           WHERE a.agency_code = k.agency_code AND a.revoked_at IS NULL ORDER BY a.enterprise_code)
       END AS auth_authorised
FROM iam.api_keys k WHERE k.key_id = $1 AND k.revoked_at IS NULL
"""


class ApiKeyAuthenticator:
    """Verifies keys against ``iam.api_keys``, and an agency's authorisations, on every request.

    No cache: revoking a key (``api_keys.revoked_at``) or an authorisation
    (``agency_authorizations.revoked_at``) takes effect with the next request, in every replica.
    The look-up is one indexed query (primary keys of both tables); correctness first, and it
    costs far less than the request's own work."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def principal(self, raw_key: str | None) -> Principal:
        key_id, secret = self._parts(raw_key)
        return self._checked(await self.pool.fetchrow(PRINCIPAL_OF_KEY, key_id), secret)

    async def tenant(self, raw_key: str | None, named_enterprise: str | None) -> Tenant:
        return self._scoped(await self.principal(raw_key), named_enterprise)

    async def tenant_and(
        self, raw_key: str | None, named_enterprise: str | None, item_sql: str, *args: Any
    ) -> tuple[Tenant, Mapping[str, Any]]:
        """The tenant and one row read by the same statement: one round trip where
        :meth:`tenant` and the route's read would be two (issue 16, the availability check).

        ``item_sql`` selects at most one row whose parameters are ``$2``... (``$1`` is the key
        id), e.g. ``SELECT * FROM customs.licenses WHERE license_no = $2``; its columns must
        not be named ``auth_*``. The row returned has them (all NULL when it found nothing)
        beside the key's. It is read before the tenant is known, so it must not filter on the
        tenant: the caller checks what it got against the tenant (:meth:`Tenant.owns`) and
        answers another tenant's object as not found. The key is checked exactly as
        :meth:`tenant` checks it (no cache)."""
        key_id, secret = self._parts(raw_key)
        row = await self.pool.fetchrow(
            f"SELECT principal.*, item.* FROM ({PRINCIPAL_OF_KEY}) AS principal"
            f" LEFT JOIN LATERAL ({item_sql}) AS item ON true",
            key_id,
            *args,
        )
        tenant = self._scoped(self._checked(row, secret), named_enterprise)
        assert row is not None  # _checked refused a missing key
        return tenant, row

    @staticmethod
    def _parts(raw_key: str | None) -> tuple[str, str]:
        if not raw_key:
            raise Unauthenticated(
                "missing credentials: send 'Authorization: Bearer <key>', or sign in (POST /api/v1/session)"
            )
        return split_api_key(raw_key)

    @staticmethod
    def _checked(row: Mapping[str, Any] | None, secret: str) -> Principal:
        digest = hashlib.sha256(secret.encode()).digest()
        if row is None or not hmac.compare_digest(bytes(row["auth_secret_sha256"]), digest):
            raise Unauthenticated("invalid API key (unknown, revoked or mistyped): ask for a new key")
        if row["auth_kind"] == "agency":
            authorised = tuple(row["auth_authorised"] or ())
        elif row["auth_kind"] == "enterprise":
            authorised = (row["auth_enterprise_code"],)
        else:
            authorised = ()
        return Principal(
            key_id=row["auth_key_id"],
            kind=row["auth_kind"],
            enterprise_code=row["auth_enterprise_code"],
            agency_code=row["auth_agency_code"],
            authorised=authorised,
        )

    @staticmethod
    def _scoped(p: Principal, named_enterprise: str | None) -> Tenant:
        if named_enterprise:
            if named_enterprise not in p.authorised:
                raise Forbidden(f"{ENTERPRISE_HEADER} {named_enterprise} has not authorised this API key")
            return Tenant(p, (named_enterprise,))
        return Tenant(p, p.authorised)


# ---------------------------------------------------------------- service credentials (issue 10)
#
# Internal routes (``/internal/...`` and any route the entry point does not route to its
# service) are for other services and operations, never for clients. Each requires the service
# credential ``AIL_INTERNAL_TOKEN`` (settings ``internal_token``) in the header below. Used by
# every internal router: submission (``/internal/ekey-bindings``, ``/internal/submissions``) and
# signer (``/api/v1/signer/keys``); callers: ``ail_submission.demo``, operations, tests.
#
# MOFCOM is not one of our services and holds no service credential: its result callbacks are
# signed instead (``sign_callback`` / ``verify_callback``, HMAC-SHA256 with the shared secret
# ``AIL_MOFCOM_CALLBACK_SECRET``), used by the MOFCOM sandbox and the submission service.

SERVICE_CREDENTIAL_HEADER = "X-AIL-Service-Token"
CALLBACK_TIMESTAMP_HEADER = "X-MOFCOM-Timestamp"
CALLBACK_SIGNATURE_HEADER = "X-MOFCOM-Signature"
CALLBACK_TOLERANCE_SECONDS = 300.0


def check_service_credential(expected: SecretStr, presented: str | None) -> None:
    """Raise :class:`Unauthenticated` unless ``presented`` is the service credential (compared
    in constant time). An unset credential refuses everything: an internal route is never open."""
    secret = expected.get_secret_value()
    if not secret:
        raise Unauthenticated("this service has no service credential configured: set AIL_INTERNAL_TOKEN")
    if not presented:
        raise Unauthenticated(f"internal route: send the service credential in {SERVICE_CREDENTIAL_HEADER}")
    if not hmac.compare_digest(presented.encode(), secret.encode()):
        raise Unauthenticated(f"internal route: the {SERVICE_CREDENTIAL_HEADER} credential is not valid")


async def require_service_credential(
    request: Request,
    x_ail_service_token: Annotated[str | None, Header(alias=SERVICE_CREDENTIAL_HEADER)] = None,
) -> None:
    """FastAPI dependency of every internal router: ``APIRouter(dependencies=[ServiceCredential])``.
    The credential comes from the running service's settings (``internal_token``)."""
    settings = request.app.state.runtime.settings
    check_service_credential(getattr(settings, "internal_token", SecretStr("")), x_ail_service_token)


ServiceCredential = Depends(require_service_credential)


def sign_callback(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``: the value of the signature
    header. The timestamp is signed with the body so that an old callback cannot be replayed
    with a fresh timestamp."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def callback_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    ts = int(time.time() if now is None else now)
    return {CALLBACK_TIMESTAMP_HEADER: str(ts), CALLBACK_SIGNATURE_HEADER: sign_callback(secret, ts, body)}


def verify_callback(
    secret: SecretStr,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float | None = None,
    tolerance: float = CALLBACK_TOLERANCE_SECONDS,
) -> None:
    """Raise :class:`Unauthenticated` unless the callback is signed with ``secret`` within
    ``tolerance`` seconds of ``now`` (a stale or future timestamp is refused: no replays)."""
    key = secret.get_secret_value()
    if not key:
        raise Unauthenticated("no MOFCOM callback secret configured: set AIL_MOFCOM_CALLBACK_SECRET")
    if not timestamp or not signature:
        raise Unauthenticated(
            f"MOFCOM callback: send {CALLBACK_TIMESTAMP_HEADER} and {CALLBACK_SIGNATURE_HEADER}"
        )
    try:
        ts = int(timestamp)
    except ValueError:
        raise Unauthenticated(f"MOFCOM callback: {CALLBACK_TIMESTAMP_HEADER} is not unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise Unauthenticated(
            f"MOFCOM callback: timestamp {ts} is more than {tolerance:g} s from now (stale or replayed)"
        )
    if not hmac.compare_digest(signature.encode(), sign_callback(key, ts, body).encode()):
        raise Unauthenticated("MOFCOM callback: the signature does not match")
